/** The one operation lifecycle that all three suites share. */
import type { Component } from '../config/app-config';

export type OperationKind = Component;

export const OPERATION_STATUSES = [
  'queued',
  'running',
  'completed',
  'failed',
  'cancelled',
  'timeout',
] as const;
export type OperationStatus = (typeof OPERATION_STATUSES)[number];
export const TERMINAL_STATUSES: readonly OperationStatus[] = ['completed', 'failed', 'cancelled', 'timeout'];

export function isTerminal(status: OperationStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export interface OperationError {
  code: string;
  message: string;
  details?: unknown;
}

/** What the store holds for one operation. */
export interface OperationRecord {
  id: string;
  kind: OperationKind;
  status: OperationStatus;
  model_name: string;
  request: Record<string, unknown>;
  progress: number;
  current_step: string | null;
  result: unknown;
  error: OperationError | null;
  attempts: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
  /** When a timeout was requested: the instant (ISO) after which a running operation times out. */
  deadline_at: string | null;
}

/** The status body of DESIGN, identical for every suite. */
export interface OperationStatusView {
  id: string;
  kind: OperationKind;
  status: OperationStatus;
  model_name: string;
  progress: number;
  current_step: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  elapsed_s: number | null;
  eta_s: number | null;
  attempts: number;
  error?: OperationError;
}

export function toStatusView(op: OperationRecord, now = Date.now()): OperationStatusView {
  const started = op.started_at ? Date.parse(op.started_at) : null;
  const end = op.finished_at ? Date.parse(op.finished_at) : now;
  const elapsed = started !== null ? Math.max(0, (end - started) / 1000) : null;
  let eta: number | null = null;
  if (op.status === 'running' && elapsed !== null && op.progress > 0.01 && op.progress < 1) {
    eta = (elapsed * (1 - op.progress)) / op.progress;
  } else if (isTerminal(op.status)) {
    eta = 0;
  }
  const view: OperationStatusView = {
    id: op.id,
    kind: op.kind,
    status: op.status,
    model_name: op.model_name,
    progress: op.progress,
    current_step: op.current_step,
    created_at: op.created_at,
    started_at: op.started_at,
    finished_at: op.finished_at,
    elapsed_s: elapsed === null ? null : Math.round(elapsed * 1000) / 1000,
    eta_s: eta === null ? null : Math.round(eta * 10) / 10,
    attempts: op.attempts,
  };
  if (op.error) view.error = op.error;
  return view;
}
