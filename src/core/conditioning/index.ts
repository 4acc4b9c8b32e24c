// Conditioning shared by the families: the `cond` config section, tokenizer, text encoder, Conditioner, guidance.
export { condSchema, type CondConfig } from './config.ts';
export { Tokenizer, words, PAD_ID, UNK_ID, type Encoded } from './tokenizer.ts';
export { TextEncoder, type TextEncoderOptions } from './text-encoder.ts';
export { Conditioner, concatCondSeq, disposeCondSeq, type CondInput, type CondSeq } from './conditioner.ts';
export { guide } from './guidance.ts';
