// The protocol's names and texts, read from the Rust `shared` crate so that they are spelled in
// one place only: event names, error texts, HTTP paths and the wording of server notices.
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const sharedSrc = join(dirname(fileURLToPath(import.meta.url)), '..', 'shared', 'src');

/** `pub const NAME: &str = "value";` items of a shared/src file. */
function rustConsts(file) {
  const src = readFileSync(join(sharedSrc, file), 'utf8');
  return Object.fromEntries([...src.matchAll(/pub const (\w+): &str = "([^"]*)";/g)].map((m) => [m[1], m[2]]));
}

/** `pub const NAME: usize = 1_000;` items of a shared/src file, as numbers. */
function rustNumbers(file) {
  const src = readFileSync(join(sharedSrc, file), 'utf8');
  const items = [...src.matchAll(/pub const (\w+): usize = ([\d_]+);/g)];
  return Object.fromEntries(items.map((m) => [m[1], Number(m[2].replaceAll('_', ''))]));
}

export const ev = rustConsts('events.rs');
export const errors = rustConsts('errors.rs');
export const api = rustConsts('api.rs');
export const defaults = { ...rustConsts('defaults.rs'), ...rustNumbers('defaults.rs') };

/** `pub fn NAME(...) -> String { format!("...") }` of shared/src/notices.rs, as a JS function of
 * an object whose keys are the format's `{names}`. */
function rustFormat(file, name) {
  const src = readFileSync(join(sharedSrc, file), 'utf8');
  const m = src.match(new RegExp(`pub fn ${name}\\([^)]*\\) -> String \\{\\s*format!\\("((?:[^"\\\\]|\\\\.)*)"\\)`));
  if (!m) throw new Error(`no format! in ${file}::${name}`);
  const template = m[1].replace(/\\"/g, '"').replace(/\\\\/g, '\\');
  return (args) => template.replace(/\{(\w+)\}/g, (_, key) => args[key]);
}

export const notices = { userJoined: rustFormat('notices.rs', 'user_joined') };
export const errorTexts = {
  notInRoom: rustFormat('errors.rs', 'not_in_room'),
  messageTooLong: rustFormat('errors.rs', 'message_too_long'),
};
