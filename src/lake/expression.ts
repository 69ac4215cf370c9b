/**
 * The small SQL expression language of pipeline definitions (expectations, gold delete
 * conditions): a whitelist grammar parsed into an AST and printed back as DuckDB SQL. Nothing from
 * a definition reaches DuckDB as text — only what this printer writes (quoted identifiers, escaped
 * literals, whitelisted operators and functions) — so a definition cannot inject SQL.
 *
 *   expr      := or
 *   or        := and (OR and)*
 *   and       := not (AND not)*
 *   not       := NOT not | predicate
 *   predicate := sum [ cmp sum | [NOT] BETWEEN sum AND sum | [NOT] IN ( expr, ... )
 *                     | IS [NOT] NULL | [NOT] LIKE string ]
 *   sum       := product ((+ | - | ||) product)*
 *   product   := unary ((* | / | %) unary)*
 *   unary     := - unary | primary
 *   primary   := number | 'string' | TRUE | FALSE | NULL | column | function ( expr, ... ) | ( expr )
 *
 * Keywords and function names are case-insensitive; a column is a bare name ([A-Za-z_][A-Za-z0-9_]*)
 * or "double-quoted", and must be one of the columns the caller allows.
 */
import { sqlIdent } from '../delta/sql';

export type Expr =
  | { kind: 'num'; text: string }
  | { kind: 'str'; value: string }
  | { kind: 'bool'; value: boolean }
  | { kind: 'null' }
  | { kind: 'col'; name: string }
  | { kind: 'neg'; arg: Expr }
  | { kind: 'not'; arg: Expr }
  | { kind: 'bin'; op: BinaryOp; left: Expr; right: Expr }
  | { kind: 'between'; negated: boolean; arg: Expr; low: Expr; high: Expr }
  | { kind: 'in'; negated: boolean; arg: Expr; list: Expr[] }
  | { kind: 'isnull'; negated: boolean; arg: Expr }
  | { kind: 'like'; negated: boolean; arg: Expr; pattern: string }
  | { kind: 'call'; fn: string; args: Expr[] };

type BinaryOp = 'OR' | 'AND' | '=' | '<>' | '<' | '<=' | '>' | '>=' | '+' | '-' | '||' | '*' | '/' | '%';

/** Whitelisted functions: name → [min args, max args]. Deterministic, no I/O, no side effects. */
/**
 * Whitelisted functions: argument types → result type (`same` = the arguments' common type).
 * Deterministic, no I/O, no side effects.
 */
export const EXPRESSION_FUNCTIONS: Readonly<Record<string, { args: readonly ExprType[]; optional?: number; result: ExprType | 'same' }>> = {
  abs: { args: ['number'], result: 'number' },
  ceil: { args: ['number'], result: 'number' },
  floor: { args: ['number'], result: 'number' },
  round: { args: ['number', 'number'], optional: 1, result: 'number' },
  isnan: { args: ['number'], result: 'boolean' },
  isfinite: { args: ['number'], result: 'boolean' },
  coalesce: { args: ['any', 'any', 'any', 'any'], optional: 3, result: 'same' },
  length: { args: ['string'], result: 'number' },
  lower: { args: ['string'], result: 'string' },
  upper: { args: ['string'], result: 'string' },
  trim: { args: ['string'], result: 'string' },
  substr: { args: ['string', 'number', 'number'], optional: 1, result: 'string' },
  starts_with: { args: ['string', 'string'], result: 'boolean' },
  ends_with: { args: ['string', 'string'], result: 'boolean' },
  contains: { args: ['string', 'string'], result: 'boolean' },
  regexp_matches: { args: ['string', 'string'], result: 'boolean' },
  year: { args: ['time'], result: 'number' },
  month: { args: ['time'], result: 'number' },
  day: { args: ['time'], result: 'number' },
};

/**
 * Value classes the checker tells apart. Mixing them (e.g. a string column compared with a number)
 * would make DuckDB cast row values at run time, and one unparsable value would then fail every
 * run of the stage: such expressions are refused when the definition is read instead.
 */
export type ExprType = 'number' | 'string' | 'boolean' | 'time' | 'any';

export class ExpressionError extends Error {
  override name = 'ExpressionError';
}

const MAX_LENGTH = 4000;
const MAX_DEPTH = 64;
const KEYWORDS = new Set(['AND', 'OR', 'NOT', 'BETWEEN', 'IN', 'IS', 'NULL', 'LIKE', 'TRUE', 'FALSE']);

type Token = { t: 'num' | 'str' | 'ident' | 'qident' | 'kw' | 'op'; v: string; at: number };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const rest = src.slice(i);
    let m: RegExpExecArray | null;
    if ((m = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/.exec(rest))) {
      if (/^[A-Za-z_]/.test(rest.slice(m[0].length))) throw new ExpressionError(`bad number at ${i + 1}`);
      out.push({ t: 'num', v: m[0], at: i });
    } else if (c === "'") {
      let j = i + 1;
      let v = '';
      for (;;) {
        const k = src.indexOf("'", j);
        if (k < 0) throw new ExpressionError(`unterminated string at ${i + 1}`);
        v += src.slice(j, k);
        if (src[k + 1] === "'") {
          v += "'";
          j = k + 2;
        } else {
          j = k + 1;
          break;
        }
      }
      out.push({ t: 'str', v, at: i });
      i = j;
      continue;
    } else if (c === '"') {
      const k = src.indexOf('"', i + 1);
      if (k < 0) throw new ExpressionError(`unterminated quoted name at ${i + 1}`);
      out.push({ t: 'qident', v: src.slice(i + 1, k), at: i });
      i = k + 1;
      continue;
    } else if ((m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest))) {
      const up = m[0].toUpperCase();
      out.push(KEYWORDS.has(up) ? { t: 'kw', v: up, at: i } : { t: 'ident', v: m[0], at: i });
    } else if ((m = /^(?:<=|>=|<>|!=|==|\|\||[=<>+\-*/%(),])/.exec(rest))) {
      out.push({ t: 'op', v: m[0] === '!=' ? '<>' : m[0] === '==' ? '=' : m[0], at: i });
    } else {
      throw new ExpressionError(`unexpected ${JSON.stringify(c)} at ${i + 1} (only columns, literals, comparisons, AND/OR/NOT, arithmetic, BETWEEN, IN, IS NULL, LIKE and ${Object.keys(EXPRESSION_FUNCTIONS).join(', ')} are allowed)`);
    }
    i += m[0].length;
  }
  return out;
}

/**
 * Parses `src`; `columns` are the names it may refer to (matched case-insensitively, returned in
 * their declared spelling). Throws ExpressionError with a message fit for the user.
 */
export function parseExpression(src: string, columnTypes: Readonly<Record<string, ExprType>>): Expr {
  const columns = Object.keys(columnTypes);
  if (src.length > MAX_LENGTH) throw new ExpressionError(`expression longer than ${MAX_LENGTH} characters`);
  if (src.includes('\0')) throw new ExpressionError('NUL character in expression');
  const toks = tokenize(src);
  const byLower = new Map(columns.map((c) => [c.toLowerCase(), c]));
  let p = 0;
  let depth = 0;
  const peek = (): Token | undefined => toks[p];
  const where = (): string => (p < toks.length ? `at ${toks[p].at + 1}` : 'at the end');
  const isKw = (v: string): boolean => peek()?.t === 'kw' && peek()?.v === v;
  const isOp = (v: string): boolean => peek()?.t === 'op' && peek()?.v === v;
  const expectOp = (v: string): void => {
    if (!isOp(v)) throw new ExpressionError(`expected "${v}" ${where()}`);
    p++;
  };
  const nested = <T>(f: () => T): T => {
    if (++depth > MAX_DEPTH) throw new ExpressionError(`expression nested deeper than ${MAX_DEPTH}`);
    try {
      return f();
    } finally {
      depth--;
    }
  };

  const orExpr = (): Expr =>
    nested(() => {
      let left = andExpr();
      while (isKw('OR')) {
        p++;
        left = { kind: 'bin', op: 'OR', left, right: andExpr() };
      }
      return left;
    });
  const andExpr = (): Expr => {
    let left = notExpr();
    while (isKw('AND')) {
      p++;
      left = { kind: 'bin', op: 'AND', left, right: notExpr() };
    }
    return left;
  };
  const notExpr = (): Expr => {
    if (isKw('NOT')) {
      p++;
      return nested(() => ({ kind: 'not', arg: notExpr() }));
    }
    return predicate();
  };
  const predicate = (): Expr => {
    const arg = sum();
    const tok = peek();
    if (tok?.t === 'op' && ['=', '<>', '<', '<=', '>', '>='].includes(tok.v)) {
      p++;
      return { kind: 'bin', op: tok.v as BinaryOp, left: arg, right: sum() };
    }
    if (isKw('IS')) {
      p++;
      const negated = isKw('NOT');
      if (negated) p++;
      if (!isKw('NULL')) throw new ExpressionError(`expected NULL after IS ${where()}`);
      p++;
      return { kind: 'isnull', negated, arg };
    }
    const negated = isKw('NOT');
    if (negated) p++;
    if (isKw('BETWEEN')) {
      p++;
      const low = sum();
      if (!isKw('AND')) throw new ExpressionError(`expected AND in BETWEEN ${where()}`);
      p++;
      return { kind: 'between', negated, arg, low, high: sum() };
    }
    if (isKw('IN')) {
      p++;
      expectOp('(');
      const list = [orExpr()];
      while (isOp(',')) {
        p++;
        list.push(orExpr());
      }
      expectOp(')');
      return { kind: 'in', negated, arg, list };
    }
    if (isKw('LIKE')) {
      p++;
      const pat = peek();
      if (pat?.t !== 'str') throw new ExpressionError(`expected a string pattern after LIKE ${where()}`);
      p++;
      return { kind: 'like', negated, arg, pattern: pat.v };
    }
    if (negated) throw new ExpressionError(`expected BETWEEN, IN or LIKE after NOT ${where()}`);
    return arg;
  };
  const sum = (): Expr => {
    let left = product();
    while (isOp('+') || isOp('-') || isOp('||')) {
      const op = toks[p++].v as BinaryOp;
      left = { kind: 'bin', op, left, right: product() };
    }
    return left;
  };
  const product = (): Expr => {
    let left = unary();
    while (isOp('*') || isOp('/') || isOp('%')) {
      const op = toks[p++].v as BinaryOp;
      left = { kind: 'bin', op, left, right: unary() };
    }
    return left;
  };
  const unary = (): Expr => {
    if (isOp('-')) {
      p++;
      return nested(() => ({ kind: 'neg', arg: unary() }));
    }
    return primary();
  };
  const primary = (): Expr => {
    const tok = peek();
    if (!tok) throw new ExpressionError('unexpected end of expression');
    p++;
    switch (tok.t) {
      case 'num':
        return { kind: 'num', text: tok.v };
      case 'str':
        return { kind: 'str', value: tok.v };
      case 'kw':
        if (tok.v === 'TRUE' || tok.v === 'FALSE') return { kind: 'bool', value: tok.v === 'TRUE' };
        if (tok.v === 'NULL') return { kind: 'null' };
        throw new ExpressionError(`unexpected ${tok.v} at ${tok.at + 1}`);
      case 'qident':
      case 'ident': {
        if (tok.t === 'ident' && isOp('(')) {
          const fn = tok.v.toLowerCase();
          const sig = Object.hasOwn(EXPRESSION_FUNCTIONS, fn) ? EXPRESSION_FUNCTIONS[fn] : undefined;
          if (!sig) throw new ExpressionError(`function ${tok.v} is not allowed (allowed: ${Object.keys(EXPRESSION_FUNCTIONS).join(', ')})`);
          p++;
          const args: Expr[] = [];
          if (!isOp(')')) {
            args.push(orExpr());
            while (isOp(',')) {
              p++;
              args.push(orExpr());
            }
          }
          expectOp(')');
          const max = sig.args.length;
          const min = max - (sig.optional ?? 0);
          if (args.length < min || args.length > max) throw new ExpressionError(`${fn} takes ${min === max ? min : `${min} to ${max}`} argument(s), got ${args.length}`);
          return { kind: 'call', fn, args };
        }
        const name = byLower.get(tok.v.toLowerCase());
        if (name === undefined) throw new ExpressionError(`unknown column ${JSON.stringify(tok.v)} (columns: ${columns.join(', ')})`);
        return { kind: 'col', name };
      }
      case 'op':
        if (tok.v === '(') {
          const e = orExpr();
          expectOp(')');
          return e;
        }
        throw new ExpressionError(`unexpected "${tok.v}" at ${tok.at + 1}`);
    }
  };

  if (toks.length === 0) throw new ExpressionError('empty expression');
  const e = orExpr();
  if (p < toks.length) throw new ExpressionError(`unexpected ${JSON.stringify(toks[p].v)} at ${toks[p].at + 1}`);
  const t = typeOf(e, columnTypes);
  if (t !== 'boolean' && t !== 'any') throw new ExpressionError(`the expression must be a condition (true/false), not a ${t}`);
  return e;
}

/** Checks types bottom-up; `any` is NULL (fits everywhere). Throws ExpressionError on a mismatch. */
function typeOf(e: Expr, cols: Readonly<Record<string, ExprType>>): ExprType {
  const t = (x: Expr): ExprType => typeOf(x, cols);
  const show = (x: Expr): string => expressionSql(x, (n) => n);
  // a temporal column may be compared with a string literal: DuckDB casts the constant once
  const comparable = (a: Expr, b: Expr): void => {
    const ta = t(a);
    const tb = t(b);
    if (ta === 'any' || tb === 'any' || ta === tb) return;
    if ((ta === 'time' && b.kind === 'str') || (tb === 'time' && a.kind === 'str')) return;
    throw new ExpressionError(`cannot compare ${ta} ${show(a)} with ${tb} ${show(b)}`);
  };
  const want = (x: Expr, w: ExprType, what: string): void => {
    const tx = t(x);
    if (w !== 'any' && tx !== 'any' && tx !== w) throw new ExpressionError(`${what} needs a ${w}, got ${tx} ${show(x)}`);
  };
  switch (e.kind) {
    case 'num':
      return 'number';
    case 'str':
      return 'string';
    case 'bool':
      return 'boolean';
    case 'null':
      return 'any';
    case 'col':
      return cols[e.name] ?? 'any';
    case 'neg':
      want(e.arg, 'number', 'unary -');
      return 'number';
    case 'not':
      want(e.arg, 'boolean', 'NOT');
      return 'boolean';
    case 'bin':
      switch (e.op) {
        case 'AND':
        case 'OR':
          want(e.left, 'boolean', e.op);
          want(e.right, 'boolean', e.op);
          return 'boolean';
        case '||':
          want(e.left, 'string', '||');
          want(e.right, 'string', '||');
          return 'string';
        case '+':
        case '-':
        case '*':
        case '/':
        case '%':
          want(e.left, 'number', e.op);
          want(e.right, 'number', e.op);
          return 'number';
        default:
          comparable(e.left, e.right);
          return 'boolean';
      }
    case 'between':
      comparable(e.arg, e.low);
      comparable(e.arg, e.high);
      return 'boolean';
    case 'in':
      for (const x of e.list) comparable(e.arg, x);
      return 'boolean';
    case 'isnull':
      t(e.arg);
      return 'boolean';
    case 'like':
      want(e.arg, 'string', 'LIKE');
      return 'boolean';
    case 'call': {
      const sig = EXPRESSION_FUNCTIONS[e.fn];
      if (e.fn === 'regexp_matches' && e.args[1]?.kind !== 'str') throw new ExpressionError('regexp_matches needs a string literal as its pattern');
      e.args.forEach((a, i) => want(a, sig.args[i], e.fn));
      if (sig.result !== 'same') return sig.result;
      const types = e.args.map(t).filter((x) => x !== 'any');
      for (let i = 1; i < e.args.length; i++) comparable(e.args[0], e.args[i]);
      return types[0] ?? 'any';
    }
  }
}

const str = (s: string): string => `'${s.replace(/'/g, "''")}'`;

/**
 * DuckDB SQL for an expression, fully parenthesised. `column` maps a column name to its SQL
 * (default: the quoted identifier).
 */
export function expressionSql(e: Expr, column: (name: string) => string = sqlIdent): string {
  const r = (x: Expr): string => expressionSql(x, column);
  switch (e.kind) {
    case 'num':
      return e.text;
    case 'str':
      return str(e.value);
    case 'bool':
      return e.value ? 'TRUE' : 'FALSE';
    case 'null':
      return 'NULL';
    case 'col':
      return column(e.name);
    case 'neg':
      return `(- ${r(e.arg)})`;
    case 'not':
      return `(NOT ${r(e.arg)})`;
    case 'bin':
      return `(${r(e.left)} ${e.op} ${r(e.right)})`;
    case 'between':
      return `(${r(e.arg)} ${e.negated ? 'NOT ' : ''}BETWEEN ${r(e.low)} AND ${r(e.high)})`;
    case 'in':
      return `(${r(e.arg)} ${e.negated ? 'NOT ' : ''}IN (${e.list.map(r).join(', ')}))`;
    case 'isnull':
      return `(${r(e.arg)} IS ${e.negated ? 'NOT ' : ''}NULL)`;
    case 'like':
      return `(${r(e.arg)} ${e.negated ? 'NOT ' : ''}LIKE ${str(e.pattern)})`;
    case 'call':
      return `${e.fn}(${e.args.map(r).join(', ')})`;
  }
}

/** The columns an expression refers to, in first-use order. */
export function expressionColumns(e: Expr): string[] {
  const out = new Set<string>();
  const walk = (x: Expr): void => {
    switch (x.kind) {
      case 'col':
        out.add(x.name);
        return;
      case 'neg':
      case 'not':
      case 'isnull':
      case 'like':
        walk(x.arg);
        return;
      case 'bin':
        walk(x.left);
        walk(x.right);
        return;
      case 'between':
        [x.arg, x.low, x.high].forEach(walk);
        return;
      case 'in':
        [x.arg, ...x.list].forEach(walk);
        return;
      case 'call':
        x.args.forEach(walk);
        return;
      default:
        return;
    }
  };
  walk(e);
  return [...out];
}
