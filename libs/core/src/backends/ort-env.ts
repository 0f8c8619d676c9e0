/**
 * onnxruntime's process-wide settings, applied before the first session of each thread (import this
 * module for its effect before creating one).
 *
 * onnxruntime's native logger writes coloured text straight to stderr, outside the server's JSON
 * log. At its default level (warning) every WebGPU session prints two expected lines
 * (`VerifyEachNodeIsAssignedToAnEp`: shape ops placed on CPU on purpose); from `error` up it only
 * speaks when something is really wrong, and those failures reach the caller as exceptions too.
 * It is read once, when onnxruntime-node initialises (its first session in the process).
 */
import * as ort from 'onnxruntime-node';

ort.env.logLevel = 'error';
