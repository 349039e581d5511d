/**
 * NestJS's packages, imported statically: no top-level await, so the
 * adapter loads under require(esm) in CommonJS projects (README
 * "CommonJS"). Nest's decorators store their metadata with
 * reflect-metadata's API, which must load first.
 */
import "reflect-metadata";
import * as common from "@nestjs/common";
import * as core from "@nestjs/core";

export { common, core };
