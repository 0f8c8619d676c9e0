/** hardware, models, templates: one GET each, printed as a table (or JSON with --json). */
import type { CliContext } from '../context';
import { table } from '../progress';

export async function hardwareAction(ctx: CliContext, opts: { json?: boolean }): Promise<number> {
  const { backends } = await ctx.client.getHardware();
  if (opts.json) return (ctx.out(JSON.stringify(backends, null, 2)), 0);
  ctx.out(
    table(
      ['backend', 'available', 'provider', 'onnxruntime', 'device / reason'],
      backends.map((b) => [
        b.name,
        b.available ? 'yes' : 'no',
        b.execution_provider,
        b.onnxruntime_version,
        b.available ? describeDevice(b.device) : (b.reason ?? ''),
      ]),
      { style: (col, text) => (col === 1 ? (text === 'yes' ? 'green' : 'yellow') : undefined) },
    ),
  );
  return 0;
}

function describeDevice(device: Record<string, unknown> | undefined): string {
  if (!device) return '';
  const name =
    device.name ?? device.model ?? device.cpu_model ?? device.description ?? device.api ?? device.vendor;
  return typeof name === 'string' ? name : JSON.stringify(device).slice(0, 80);
}

export async function modelsAction(ctx: CliContext, opts: { json?: boolean }): Promise<number> {
  const models = await ctx.client.getModels();
  if (opts.json) return (ctx.out(JSON.stringify(models, null, 2)), 0);
  ctx.out(
    table(
      ['id', 'family', 'model_type', 'parameters', 'fp32 MB'],
      models.map((m) => [m.id, m.family, m.model_type, m.parameters, (m.fp32_bytes / 1e6).toFixed(1)]),
    ),
  );
  return 0;
}

export async function templatesAction(ctx: CliContext, opts: { json?: boolean }): Promise<number> {
  const templates = await ctx.client.getTemplates();
  if (opts.json) return (ctx.out(JSON.stringify(templates, null, 2)), 0);
  ctx.out(
    table(
      ['name', 'family', 'backends', 'variables', 'description'],
      templates.map((t) => [
        t.name,
        t.family,
        t.backends.join(','),
        t.variables.map((v) => v.name).join(','),
        t.description,
      ]),
    ),
  );
  return 0;
}
