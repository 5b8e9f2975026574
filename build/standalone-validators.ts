// esbuild plugin: swaps the modules that compile JSON Schemas with ajv for ajv's standalone code, generated at build time.
import { Ajv2020 } from "ajv/dist/2020";
import standaloneCode from "ajv/dist/standalone";
import type { Plugin } from "esbuild";
import fs from "node:fs";
import path from "node:path";
import schema from "../config/hashrelay.schema.json";
import { CONFIG_AJV_OPTIONS } from "../src/config/config-validator.ts";
import { CONTROL_TYPES, controlSchemas, manifestBodySchema, receiptBodySchema, signedDocSchema } from "../src/protocol/wire-schemas.ts";
import { WIRE_AJV_OPTIONS } from "../src/protocol/wire-validators.ts";

const root = path.resolve(import.meta.dir, "..");
export const WIRE_VALIDATORS = path.join(root, "src", "protocol", "wire-validators.ts");
export const CONFIG_VALIDATOR = path.join(root, "src", "config", "config-validator.ts");
/** Inputs of a bundle that mean the ajv compiler (and its `new Function` code generation) is in it. */
export const AJV_COMPILER = /node_modules\/ajv\/dist\/(core|ajv|2019|2020|compile\/index)\.js$/;

/** Standalone ES module source with every export of src/protocol/wire-validators.ts, under the same names. */
export function wireValidatorsSource(): string {
  const ajv = new Ajv2020({ ...WIRE_AJV_OPTIONS, code: { source: true, esm: true } });
  const exports: Record<string, string> = {};
  const add = (name: string, schemaValue: object): void => {
    ajv.addSchema(schemaValue, name);
    exports[name] = name;
  };
  add("validateManifestBody", manifestBodySchema);
  add("validateReceiptBody", receiptBodySchema);
  add("validateSignedDoc", signedDocSchema);
  CONTROL_TYPES.forEach((type, i) => add(`validateControl${i}`, controlSchemas[type]));
  const record = CONTROL_TYPES.map((type, i) => `${JSON.stringify(type)}: validateControl${i}`).join(", ");
  return `${standaloneCode(ajv, exports)}\nexport const validateControl = { ${record} };\n`;
}

/** Standalone ES module source with the export of src/config/config-validator.ts, `configValidator()`. */
export function configValidatorSource(): string {
  const ajv = new Ajv2020({ ...CONFIG_AJV_OPTIONS, code: { source: true, esm: true } });
  ajv.addSchema(schema, "config");
  return `${standaloneCode(ajv, { validateConfig: "config" })}\nexport function configValidator() { return validateConfig; }\n`;
}

/**
 * Loads the generated code in place of wire-validators.ts and config-validator.ts (also written to `staging`,
 * which the caller removes), and fails the build when the ajv compiler still ends up in the bundle.
 */
export function standaloneValidators(staging: string): Plugin {
  return {
    name: "standalone-validators",
    setup(build) {
      build.initialOptions.metafile = true;
      const generated = new Map<string, string>();
      for (const [module, source] of [
        [WIRE_VALIDATORS, wireValidatorsSource],
        [CONFIG_VALIDATOR, configValidatorSource],
      ] as const) {
        const file = path.join(staging, `${path.basename(module, ".ts")}.generated.mjs`);
        if (!fs.existsSync(file)) fs.writeFileSync(file, source());
        generated.set(module, file);
      }
      build.onLoad({ filter: /(wire-validators|config-validator)\.ts$/ }, (args) => {
        const file = generated.get(args.path);
        if (!file) return undefined;
        // resolveDir: the generated code's `require("ajv/dist/runtime/...")` resolves from the repo's node_modules.
        return { contents: fs.readFileSync(file, "utf8"), loader: "js", resolveDir: path.dirname(args.path) };
      });
      build.onEnd((result) => {
        const compiler = Object.keys(result.metafile?.inputs ?? {}).filter((input) => AJV_COMPILER.test(input));
        if (compiler.length === 0) return undefined;
        const text = `the bundle holds the ajv compiler (${compiler.join(", ")}): import validators through wire-validators.ts or config-validator.ts`;
        return { errors: [{ pluginName: "standalone-validators", text }] };
      });
    },
  };
}
