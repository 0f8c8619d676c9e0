import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HF_TINY } from '../../../../test/fixtures';
import { CoreError, ErrorCode } from '../errors';
import { SafetensorsFile } from '../util/safetensors';
import { Tensor } from 'onnxruntime-node';
import { tinyWordPiece } from '../testing/spec-fixtures';
import { OnnxFileModel, factsFromConfig } from './onnx-file';

describe('OnnxFileModel', () => {
  it('reads declared inputs/outputs with symbolic dims and the config beside the file', async () => {
    const m = await OnnxFileModel.open(join(HF_TINY, 'bert/torch_export.onnx'));
    expect(m.metadata.family).toBe('encoder');
    expect(m.metadata.vocabSize).toBe(99);
    expect(m.metadata.maxPositions).toBe(64);
    expect(m.metadata.inputs).toEqual([
      { name: 'input_ids', dtype: 'int64', shape: ['b', 's'] },
      { name: 'attention_mask', dtype: 'int64', shape: ['b', 's'] },
      { name: 'token_type_ids', dtype: 'int64', shape: ['b', 's'] },
    ]);
    expect(m.metadata.outputs).toEqual([
      { name: 'last_hidden_state', dtype: 'float32', shape: ['b', 's', 32] },
      { name: 'pooler_output', dtype: 'float32', shape: ['b', 32] },
    ]);
    expect(m.metadata.hasTokenizer).toBe(false);
    const vit = await OnnxFileModel.open(join(HF_TINY, 'vit/torch_export.onnx'));
    expect([vit.metadata.family, vit.metadata.imageSize, vit.metadata.numChannels]).toEqual([
      'vision',
      32,
      3,
    ]);
    const gpt2 = await OnnxFileModel.open(join(HF_TINY, 'gpt2/torch_export.onnx'));
    expect([gpt2.metadata.family, gpt2.metadata.vocabSize, gpt2.metadata.maxPositions]).toEqual([
      'decoder',
      99,
      64,
    ]);
  });

  it('reproduces the golden outputs on cpu from the golden inputs', async () => {
    const m = await OnnxFileModel.open(join(HF_TINY, 'distilbert/torch_export.onnx'));
    const io = SafetensorsFile.open(join(HF_TINY, 'distilbert/io.safetensors'));
    const feeds = Object.fromEntries(
      m.metadata.inputs.map((s) => [
        s.name,
        new Tensor('int64', io.int64(`input.${s.name}`), io.get(`input.${s.name}`).shape),
      ]),
    );
    const h = await m.load({ backend: 'cpu', sessionOptions: { executionProviders: ['cpu'] } });
    try {
      const out = await h.run(feeds);
      const got = out.last_hidden_state!.data as Float32Array;
      const want = io.float32('output.last_hidden_state');
      let max = 0;
      for (let i = 0; i < want.length; i++) max = Math.max(max, Math.abs(got[i]! - want[i]!));
      expect(max).toBeLessThan(1e-4);
    } finally {
      await h.release();
      io.close();
    }
    await expect(h.run(feeds)).rejects.toThrow(/released/);
  });

  it('generates inputs the session accepts, with ids inside the vocabulary', async () => {
    const m = await OnnxFileModel.open(join(HF_TINY, 'llama/torch_export.onnx'));
    const feeds = m.makeInputs({ batchSize: 2, sequenceLength: 5, seed: 1 });
    expect(Array.from(feeds.input_ids!.data as BigInt64Array).every((v) => v >= 0n && v < 99n)).toBe(true);
    const h = await m.load({ backend: 'cpu' });
    const out = await h.run(feeds);
    expect(out.logits!.dims).toEqual([2, 5, 99]);
    await h.release();
  });

  it('fails cleanly on missing and broken files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'onnx-file-'));
    await expect(OnnxFileModel.open(join(dir, 'none.onnx'))).rejects.toMatchObject({
      code: ErrorCode.MODEL_NOT_FOUND,
    });
    writeFileSync(join(dir, 'junk.onnx'), 'not a model');
    const err = await OnnxFileModel.open(join(dir, 'junk.onnx')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CoreError);
    expect((err as CoreError).code).toBe(ErrorCode.INVALID_MODEL);
    expect((err as CoreError).message).toMatch(/onnxruntime cannot load/);
  });

  it('reads a file again once it changed, and gives every caller its own copy of the IO specs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'onnx-file-io-'));
    const path = join(dir, 'model.onnx');
    copyFileSync(join(HF_TINY, 'bert/torch_export.onnx'), path);
    const first = await OnnxFileModel.open(path);
    expect(first.metadata.inputs.map((i) => i.name)).toContain('token_type_ids');
    first.metadata.inputs[0]!.shape[0] = 7; // a caller refining its own copy
    const again = await OnnxFileModel.open(path);
    expect(again.metadata.inputs[0]!.shape).toEqual(['b', 's']);
    // Same path, different model: the declared IO follows the file, not the earlier answer.
    copyFileSync(join(HF_TINY, 'vit/torch_export.onnx'), path);
    const replaced = await OnnxFileModel.open(path);
    expect(replaced.metadata.inputs.map((i) => i.name)).toEqual(['pixel_values']);
    writeFileSync(path, 'not a model any more');
    await expect(OnnxFileModel.open(path)).rejects.toMatchObject({ code: ErrorCode.INVALID_MODEL });
  });

  it('encodes text with a tokenizer.json beside the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'onnx-tok-'));
    copyFileSync(join(HF_TINY, 'bert/torch_export.onnx'), join(dir, 'model.onnx'));
    copyFileSync(join(HF_TINY, 'bert/config.json'), join(dir, 'config.json'));
    writeFileSync(
      join(dir, 'tokenizer.json'),
      JSON.stringify(tinyWordPiece(['the', 'quick', 'brown', 'fox'])),
    );
    const m = await OnnxFileModel.open(join(dir, 'model.onnx'));
    expect(m.metadata.hasTokenizer).toBe(true);
    const h = await m.load({ backend: 'cpu' });
    const feeds = await h.encode!(['the quick fox', 'brown']);
    expect(feeds.input_ids!.dims).toEqual([2, 5]);
    expect(Array.from(feeds.input_ids!.data as BigInt64Array).map(Number)).toEqual([
      2, 4, 5, 7, 3, 2, 6, 3, 0, 0,
    ]);
    expect(Array.from(feeds.attention_mask!.data as BigInt64Array).map(Number)).toEqual([
      1, 1, 1, 1, 1, 1, 1, 1, 0, 0,
    ]);
    const out = await h.run(feeds);
    expect(out.last_hidden_state!.dims).toEqual([2, 5, 32]);
    await h.release();
  });

  it('derives family and sizes from Hugging Face configs', () => {
    expect(factsFromConfig({ model_type: 't5', vocab_size: 10 }).family).toBe('encoder-decoder');
    expect(factsFromConfig({ architectures: ['FooForCausalLM'] }).family).toBe('decoder');
    expect(factsFromConfig({ model_type: 'resnet', image_size: [64, 64] })).toMatchObject({
      family: 'vision',
      imageSize: 64,
    });
    expect(factsFromConfig({ model_type: 'gpt2', n_ctx: 128, vocab_size: 5 })).toMatchObject({
      maxPositions: 128,
      vocabSize: 5,
    });
    expect(factsFromConfig({}).family).toBe('onnx');
  });
});
