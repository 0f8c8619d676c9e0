/**
 * The inputs and outputs of an ONNX file, with their symbolic dims, read by opening it on CPU: what
 * generateImplementation needs when the caller has only the file.
 */
import { InferenceSession } from 'onnxruntime-node';
import { CoreError, ErrorCode, errorMessage } from '../errors';
import type { TensorDtype, TensorSpec } from '../types';

const DTYPES: readonly string[] = [
  'float32',
  'float16',
  'int64',
  'int32',
  'int8',
  'uint8',
  'bool',
  'string',
  'float64',
];

function specsOf(what: string, metadata: readonly InferenceSession.ValueMetadata[]): TensorSpec[] {
  return metadata.map((m) => {
    if (!m.isTensor) throw new CoreError(ErrorCode.INVALID_MODEL, `${what} ${m.name} is not a tensor`);
    if (!DTYPES.includes(m.type)) {
      throw new CoreError(ErrorCode.INVALID_MODEL, `${what} ${m.name} has unsupported type ${m.type}`);
    }
    return {
      name: m.name,
      dtype: m.type as TensorDtype,
      shape: m.shape.map((d) => (typeof d === 'number' ? d : String(d))),
    };
  });
}

export async function readOnnxIo(onnxPath: string): Promise<{ inputs: TensorSpec[]; outputs: TensorSpec[] }> {
  let session: InferenceSession;
  try {
    session = await InferenceSession.create(onnxPath, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'disabled',
    });
  } catch (err) {
    throw new CoreError(ErrorCode.INVALID_MODEL, `cannot open ${onnxPath}: ${errorMessage(err)}`);
  }
  try {
    return {
      inputs: specsOf('input', session.inputMetadata),
      outputs: specsOf('output', session.outputMetadata),
    };
  } finally {
    await session.release();
  }
}
