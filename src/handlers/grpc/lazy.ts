import { createRequire } from 'node:module';
import type * as GrpcJs from '@grpc/grpc-js';
import type * as ProtoLoader from '@grpc/proto-loader';
import type * as ProtobufJs from 'protobufjs';

/**
 * The gRPC libraries, loaded on first use: a config without `grpc:` routes never loads
 * them (together they cost ~300 ms of startup and ~18 MB of RSS). They are CommonJS
 * packages, so a synchronous `require` serves the synchronous config checks and handler
 * factories.
 *
 * @example
 *   const { Metadata } = grpcJs();
 */
const require = createRequire(import.meta.url);

let grpc: typeof GrpcJs | undefined;
let loader: typeof ProtoLoader | undefined;
let pb: typeof ProtobufJs | undefined;

export const grpcJs = (): typeof GrpcJs => (grpc ??= require('@grpc/grpc-js') as typeof GrpcJs);
export const protoLoader = (): typeof ProtoLoader => (loader ??= require('@grpc/proto-loader') as typeof ProtoLoader);
export const protobufJs = (): typeof ProtobufJs => (pb ??= require('protobufjs') as typeof ProtobufJs);
