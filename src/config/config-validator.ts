// The config schema (config/hashrelay.schema.json) compiled by ajv, on first use. The build
// (build/standalone-validators.ts) replaces this module by ajv's standalone code of the same schema and
// options, so the binary never loads the ajv compiler.
import { Ajv2020, type Options, type ValidateFunction } from "ajv/dist/2020";
import schema from "../../config/hashrelay.schema.json";

// verbose: schema-findings.ts words errors from their data and parent schema. Meta-schema check: schema.test.ts.
export const CONFIG_AJV_OPTIONS: Options = { strict: true, allErrors: true, verbose: true, validateSchema: false };

let validator: ValidateFunction | undefined;

/** The compiled schema (strict mode, all errors); compiled once, on first use. */
export function configValidator(): ValidateFunction {
  validator ??= new Ajv2020(CONFIG_AJV_OPTIONS).compile(schema);
  return validator;
}
