import { Inject, Injectable } from '@nestjs/common';
import { Kysely, sql, SqlBool } from 'kysely';
import type { BenchmarkResult } from '../../../libs/core/src/benchmark';
import { type Database, storable } from '../../common/store/database';
import { DATABASE } from '../../common/store/store.module';
import type { BenchmarkRowDto } from './benchmark.dto';

export interface RowFilter {
  model?: string;
  backend?: string;
  tag?: string;
  since?: string;
  limit: number;
}

/** One row per (run, configuration), for history queries across runs. */
@Injectable()
export class BenchmarkRepository {
  constructor(@Inject(DATABASE) private readonly db: Kysely<Database>) {}

  async saveRun(
    runId: string,
    result: BenchmarkResult,
    tags: string[],
    cids: Record<string, string | null>,
  ): Promise<void> {
    if (result.configurations.length === 0) return;
    await this.db
      .insertInto('benchmark_rows')
      .values(
        result.configurations.map((c) => ({
          run_id: runId,
          model: c.model,
          model_cid: cids[c.model] ?? null,
          backend: c.backend,
          batch_size: c.batch_size,
          sequence_length: c.sequence_length,
          status: c.status,
          p50_ms: c.stats?.p50 ?? null,
          throughput: c.throughput_items_per_sec,
          tags: JSON.stringify(tags),
          created_at: result.completed_at,
          data: JSON.stringify({ label: c.label, stats: c.stats, load_ms: c.load_ms }),
        })),
      )
      .execute();
  }

  /**
   * Run-level latencies of earlier measured runs of one configuration, newest first: the same model
   * content, backend, batch and sequence, completed at or before `before`, `exclude` left out. For
   * each: its median (p50) and its minimum.
   */
  async history(
    key: { model_cid: string; backend: string; batch_size: number; sequence_length: number | null },
    exclude: string,
    before: string,
    limit = 20,
  ): Promise<Array<{ median: number; min: number | null }>> {
    let q = this.db
      .selectFrom('benchmark_rows')
      .select(['p50_ms', 'data'])
      .where('model_cid', '=', key.model_cid)
      .where('backend', '=', key.backend)
      .where('batch_size', '=', key.batch_size)
      .where('status', '=', 'ok')
      .where('p50_ms', 'is not', null)
      .where('run_id', '<>', exclude)
      .where('created_at', '<=', before);
    q =
      key.sequence_length === null
        ? q.where('sequence_length', 'is', null)
        : q.where('sequence_length', '=', key.sequence_length);
    const rows = await q.orderBy('created_at', 'desc').limit(limit).execute();
    return rows.map((r) => {
      let min: number | null = null;
      try {
        const v = (JSON.parse(r.data) as { stats?: { min?: unknown } }).stats?.min;
        if (typeof v === 'number' && Number.isFinite(v) && v > 0) min = v;
      } catch {
        // a row whose data is not JSON has no minimum: its median still counts
      }
      return { median: r.p50_ms as number, min };
    });
  }

  async list(filter: RowFilter): Promise<BenchmarkRowDto[]> {
    if (!storable(filter.model) || !storable(filter.backend) || !storable(filter.since)) return [];
    let q = this.db
      .selectFrom('benchmark_rows')
      .select([
        'run_id',
        'model',
        'model_cid',
        'backend',
        'batch_size',
        'sequence_length',
        'status',
        'p50_ms',
        'throughput',
        'tags',
        'created_at',
      ]);
    if (filter.model) q = q.where('model', '=', filter.model);
    if (filter.backend) q = q.where('backend', '=', filter.backend);
    if (filter.since) q = q.where('created_at', '>=', filter.since);
    if (filter.tag) {
      // The JSON-encoded tag (quotes included) as a substring of the JSON array. Not LIKE: SQLite's
      // LIKE ignores ASCII case and has no escape character unless told, PostgreSQL's does neither,
      // so '%', '_' and '\' in a tag would match differently. replace() is literal and
      // case-sensitive on both.
      const needle = JSON.stringify(filter.tag);
      q = q.where(sql<SqlBool>`replace(${sql.ref('tags')}, ${needle}, '') <> ${sql.ref('tags')}`);
    }
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'asc').limit(filter.limit).execute();
    return rows.map((r) => ({ ...r, tags: JSON.parse(r.tags) as string[] }));
  }
}
