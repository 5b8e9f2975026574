// The error code a call throws, for tests that check which HashRelayError bad input gets.
import { expect } from "bun:test";
import { HashRelayError } from "../errors.ts";

/** The code of the HashRelayError that `fn` throws, or "nothing thrown"; anything else thrown fails the test. */
export function thrownCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HashRelayError);
    return (err as HashRelayError).code;
  }
  return "nothing thrown";
}
