/** Current time in unix seconds, the unit of JWT times (RFC 7519 §2) and of every stored time. */
export const nowSeconds = (): number => Math.floor(Date.now() / 1000);
