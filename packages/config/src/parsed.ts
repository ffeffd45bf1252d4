/** What a parser makes of a raw configuration value: the value, or what is wrong with it. */
export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: string };

/** A parsed value. */
export const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });

/** A parse failure; `problem` completes the sentence "KEY ...". */
export const fail = <T = never>(problem: string): Parsed<T> => ({ ok: false, problem });
