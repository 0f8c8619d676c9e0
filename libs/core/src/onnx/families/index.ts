/**
 * Family registry: model_type → the module that builds its graph.
 * To add a family, import its module and add it to FAMILY_MODULES (one entry per module).
 */
import type { FamilyModule } from './types';
import { encoderFamily } from './encoder';
import { visionFamily } from './vision';
import { decoderFamily } from './decoder';
import { t5Family } from './t5';

export { GRAPH_FLAVOURS, type FamilyContext, type FamilyModule, type GraphFlavour } from './types';

export const FAMILY_MODULES: readonly FamilyModule[] = [encoderFamily, visionFamily, decoderFamily, t5Family];

/** The module that builds `modelType`, or undefined. */
export function familyModuleFor(modelType: string): FamilyModule | undefined {
  return FAMILY_MODULES.find((m) => m.modelTypes.includes(modelType));
}

/** Every model_type some module builds. */
export function buildableModelTypes(): string[] {
  return FAMILY_MODULES.flatMap((m) => [...m.modelTypes]);
}
