// The parameter-group rule lives in src/model/param-groups.ts (the memory estimate needs it below the job layer).
export { isMuonTensor, muonMatrices, muonShapes, optimizerFlopsPerStep, type MuonMatrix } from '../model/param-groups';
