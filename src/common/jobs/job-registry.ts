import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { JobHandler, JobName, jobsOf } from './job.types';

/** Suite processors register here; the app refuses to start when an enabled job has none. */
@Injectable()
export class JobRegistry implements OnApplicationBootstrap {
  private readonly handlers = new Map<JobName, JobHandler>();

  constructor(@InjectConfig() private readonly config: AppConfig) {}

  register(name: JobName, handler: JobHandler): void {
    if (this.handlers.has(name)) throw new Error(`job ${name} has two processors`);
    this.handlers.set(name, handler);
  }

  get(name: JobName): JobHandler {
    const h = this.handlers.get(name);
    if (!h) throw new Error(`no processor registered for job ${name}`);
    return h;
  }

  onApplicationBootstrap(): void {
    const missing = this.config.components.flatMap(jobsOf).filter((n) => !this.handlers.has(n));
    if (missing.length) throw new Error(`jobs without a processor: ${missing.join(', ')}`);
  }
}
