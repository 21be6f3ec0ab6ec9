/**
 * Item templates: which catalog fields make an item's text, and how they read. Every part that
 * reads items as text uses them: the LM's item states, the content part's TF-IDF, the LM stage,
 * behaviour written as text for pretraining.
 */
import { LmrecError } from '../errors.js';

/** An item template, compiled: renders an item's fields as its text. */
export interface ItemTemplate {
  /** The template's source text. */
  readonly source: string;
  /** The fields it names, in order of first mention. */
  readonly fields: readonly string[];
  /** The item's text; a field the item lacks renders as ''. */
  render(fields: Readonly<Record<string, string>>): string;
}

type Part = { text: string } | { field: string };

/**
 * Compiles a template such as `'{title} ({category})'`: `{name}` is the item's field `name`,
 * `{{` and `}}` are literal braces. `fields` are the catalog's field names; naming another
 * field, an unclosed or lone brace, and a template naming no field at all (every item would
 * read the same) are INVALID_ARGUMENT.
 */
export function compileItemTemplate(template: string, fields: readonly string[]): ItemTemplate {
  const bad = (what: string) => new LmrecError(`item template '${template}': ${what}`, 'INVALID_ARGUMENT');
  const known = new Set(fields);
  const parts: Part[] = [];
  const named: string[] = [];
  let literal = '';
  for (let i = 0; i < template.length; ) {
    const c = template[i]!;
    if (c === '}') {
      if (template[i + 1] !== '}') throw bad(`a lone '}' at position ${i} (write '}}' for a literal brace)`);
      literal += '}';
      i += 2;
    } else if (c === '{' && template[i + 1] === '{') {
      literal += '{';
      i += 2;
    } else if (c === '{') {
      const close = template.indexOf('}', i + 1);
      if (close < 0) throw bad(`the '{' at position ${i} is never closed (write '{{' for a literal brace)`);
      const name = template.slice(i + 1, close);
      if (name.length === 0) throw bad(`an empty field name at position ${i}`);
      if (name.includes('{')) throw bad(`a '{' inside the field name at position ${i}`);
      if (!known.has(name)) {
        const list = fields.length > 0 ? fields.map((f) => `'${f}'`).join(', ') : 'none';
        throw bad(`the catalog has no field '${name}' (its fields: ${list})`);
      }
      if (literal) parts.push({ text: literal });
      literal = '';
      parts.push({ field: name });
      if (!named.includes(name)) named.push(name);
      i = close + 1;
    } else {
      literal += c;
      i++;
    }
  }
  if (literal) parts.push({ text: literal });
  if (named.length === 0) throw bad('it names no field, so every item would read the same (name one as {field})');
  return {
    source: template,
    fields: named,
    render: (item) => {
      let out = '';
      for (const p of parts) out += 'text' in p ? p.text : (item[p.field] ?? '');
      return out;
    },
  };
}

/**
 * The template used when none is given: `'{title}'` when the catalog has a title (a field
 * named title, else name, in any case), since a title names an item in few tokens and short
 * events let long histories fit; otherwise every field as `name: {name}`, joined by '; '.
 * Field names with braces cannot be written in a template and are left out. A catalog without
 * fields is INVALID_DATA.
 */
export function defaultItemTemplate(fields: readonly string[]): string {
  const usable = fields.filter((f) => f.length > 0 && !f.includes('{') && !f.includes('}'));
  if (usable.length === 0) throw new LmrecError('the catalog has no text fields to write behaviour as text', 'INVALID_DATA');
  const titled = ['title', 'name'].map((t) => usable.find((f) => f.toLowerCase() === t)).find((f) => f !== undefined);
  if (titled !== undefined) return `{${titled}}`;
  return usable.map((f) => `${f}: {${f}}`).join('; ');
}

/**
 * The text of every item of a catalog (`items[i]` is the item of integer id i, e.g. in the
 * order `readCatalogIds` assigns), rendered by `template` or the default one. The catalog's
 * fields are those any item has, in order of first appearance.
 */
export function renderItemTexts(
  items: readonly { fields: Readonly<Record<string, string>> }[],
  template?: string,
): { template: ItemTemplate; texts: string[] } {
  const seen = new Set<string>();
  for (const item of items) for (const f of Object.keys(item.fields)) seen.add(f);
  const fields = [...seen];
  const compiled = compileItemTemplate(template ?? defaultItemTemplate(fields), fields);
  return { template: compiled, texts: items.map((item) => compiled.render(item.fields)) };
}
