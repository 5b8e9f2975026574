// The wire schemas compiled by ajv. The build (build/standalone-validators.ts) replaces this module by ajv's
// standalone code of the same schemas and options, so the binary never loads the ajv compiler.
import { Ajv2020, type Options, type ValidateFunction } from "ajv/dist/2020";
import { CONTROL_TYPES, controlSchemas, manifestBodySchema, receiptBodySchema, signedDocSchema, type ControlType } from "./wire-schemas.ts";

// Our own constant schemas: checked against the meta-schema by the tests, not at every start (saves ~10 MB and time).
export const WIRE_AJV_OPTIONS: Options = { strict: true, allErrors: false, validateSchema: false };

const ajv = new Ajv2020(WIRE_AJV_OPTIONS);

export const validateManifestBody: ValidateFunction = ajv.compile(manifestBodySchema);
export const validateReceiptBody: ValidateFunction = ajv.compile(receiptBodySchema);
export const validateSignedDoc: ValidateFunction = ajv.compile(signedDocSchema);
export const validateControl = Object.fromEntries(CONTROL_TYPES.map((t) => [t, ajv.compile(controlSchemas[t])])) as Record<
  ControlType,
  ValidateFunction
>;
