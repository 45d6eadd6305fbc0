// data/think.ts — what becomes of a reasoning template's think block in a trained sample (--chat-think).
//
// Qwen3's template writes `<think>\n{reasoning}\n</think>\n\n` before the content of an assistant turn
// that follows the last user message, even when there is no reasoning: every prompt/completion sample
// then ends in `<|im_start|>assistant\n<think>\n\n</think>\n\n{completion}`, and the empty block is
// learned as the first tokens of every answer. The same template writes an assistant turn in history
// without the block, and its generation prompt is `<|im_start|>assistant\n` (thinking on) or
// `<|im_start|>assistant\n<think>\n\n</think>\n\n` (enable_thinking=false).
//
// The empty block is found by rendering, not by matching Qwen3's text: it is what the template adds to
// the generation prompt with enable_thinking=false. Templates without that switch (Qwen2.5) add
// nothing, and every mode renders them verbatim.
import type { FlagSpec } from '../cli/flags.js';

export type ChatThink = 'auto' | 'keep' | 'prompt' | 'strip';

export const CHAT_THINK_FLAG: FlagSpec = {
  kind: 'string',
  choices: ['auto', 'keep', 'prompt', 'strip'],
  default: 'auto',
  help: 'empty <think></think> block of reasoning templates (Qwen3): auto drops it from the final assistant turn (reasoning in the data is kept), keep trains it, prompt puts it in the prompt (as enable_thinking=false renders), strip drops every think block and its reasoning',
};

/** The chat-template calls this needs (LoadedTokenizer has them). */
export interface ChatRenderer {
  applyChatTemplate(
    messages: readonly { role: string; content: string }[],
    opts?: { addGenerationPrompt?: boolean; enableThinking?: boolean },
  ): string;
}

export interface Message {
  role: string;
  content: string;
}

/** The reply without a `<think>…</think>` block, as the template itself reads content with one. */
function withoutReasoning(content: string): string {
  const end = content.lastIndexOf('</think>');
  return end < 0 ? content : content.slice(end + '</think>'.length).replace(/^\n+/, '');
}

/**
 * Renders a conversation that ends in an assistant turn as `{ prompt, full }` text, with the final
 * turn's think block handled per `mode`. `prompt` is the part --mask-prompt excludes from the loss.
 */
export function renderForTraining(
  tok: ChatRenderer,
  messages: readonly Message[],
  mode: ChatThink,
): { prompt: string; full: string } {
  const history = messages.slice(0, -1);
  const last = messages[messages.length - 1] as Message;
  const turns = mode === 'strip' ? [...history, { ...last, content: withoutReasoning(last.content) }] : messages;
  const full = tok.applyChatTemplate(turns);
  const prompt = tok.applyChatTemplate(history, { addGenerationPrompt: true });
  if (mode === 'keep') return { prompt, full };
  const noThink = tok.applyChatTemplate(history, { addGenerationPrompt: true, enableThinking: false });
  const block = noThink.startsWith(prompt) ? noThink.slice(prompt.length) : '';
  // A turn with reasoning renders `<think>\n…` here, not the empty block, and is left as written.
  if (!block || !full.startsWith(prompt + block)) return { prompt, full };
  if (mode === 'prompt') return { prompt: noThink, full };
  // auto, strip: the final turn as the template writes a turn in history, `<|im_start|>assistant\n{content}`
  return { prompt, full: prompt + full.slice(prompt.length + block.length) };
}
