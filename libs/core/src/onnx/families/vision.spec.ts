import { describeAgainstTransformers } from './spec-helpers';

jest.setTimeout(120_000);

describeAgainstTransformers('vision', ['vit']);
