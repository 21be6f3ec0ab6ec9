/**
 * A small helper for writing ONNX graphs by hand: named values, initializers, nodes with
 * attributes, and serialization through onnx-proto. Only what lmrec's graphs need.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const DataType = onnx.TensorProto.DataType;
const AttributeType = onnx.AttributeProto.AttributeType;

export const OPSET = 17;
export type Dim = number | string; // a fixed size or a symbolic name
export type Attr = number | number[] | string | { float: number } | { floats: number[] };

export class GraphBuilder {
  readonly #nodes: onnxProto.onnx.INodeProto[] = [];
  readonly #initializers: onnxProto.onnx.ITensorProto[] = [];
  readonly #inputs: onnxProto.onnx.IValueInfoProto[] = [];
  readonly #outputs: onnxProto.onnx.IValueInfoProto[] = [];
  readonly #used = new Set<string>();
  readonly #domains = new Set<string>();
  #counter = 0;

  /** `precision` tells the graph code how to emit weight matrix products. */
  constructor(
    readonly name: string,
    readonly precision: 'fp32' | 'int8' = 'fp32',
  ) {}

  /** A fresh value name with the given prefix. */
  fresh(prefix: string): string {
    let name: string;
    do name = `${prefix}_${this.#counter++}`;
    while (this.#used.has(name));
    this.#used.add(name);
    return name;
  }

  input(name: string, type: 'float' | 'int64', shape: Dim[]): string {
    this.#used.add(name);
    this.#inputs.push(valueInfo(name, type, shape));
    return name;
  }

  output(value: string, name: string, type: 'float' | 'int64', shape: Dim[]): void {
    if (value !== name) this.op('Identity', [value], {}, name);
    this.#outputs.push(valueInfo(name, type, shape));
  }

  /** A float32 initializer. */
  floats(prefix: string, data: Float32Array, dims: number[]): string {
    const name = this.fresh(prefix);
    this.#initializers.push({ name, dims, dataType: DataType.FLOAT, rawData: bytesOf(data) });
    return name;
  }

  /** An int64 initializer (shapes, axes, indices). */
  ints(prefix: string, data: number[]): string {
    const name = this.fresh(prefix);
    const arr = BigInt64Array.from(data.map(BigInt));
    this.#initializers.push({ name, dims: [data.length], dataType: DataType.INT64, rawData: bytesOf(arr) });
    return name;
  }

  /** An int8 initializer (quantized weights). */
  int8s(prefix: string, data: Int8Array, dims: number[]): string {
    const name = this.fresh(prefix);
    this.#initializers.push({ name, dims, dataType: DataType.INT8, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    return name;
  }

  scalar(prefix: string, value: number): string {
    return this.floats(prefix, Float32Array.of(value), []);
  }

  /** Adds a node and returns its (first) output's name. */
  op(type: string, inputs: string[], attrs: Record<string, Attr> = {}, output?: string, domain = ''): string {
    const out = output ?? this.fresh(type.toLowerCase());
    this.#used.add(out);
    if (domain) this.#domains.add(domain);
    this.#nodes.push({
      opType: type,
      domain,
      name: this.fresh(`n_${type}`),
      input: inputs,
      output: [out],
      attribute: Object.entries(attrs).map(([name, v]) => attribute(name, v)),
    });
    return out;
  }

  /** Serialized ModelProto. */
  build(): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'lmrec',
      opsetImport: [{ domain: '', version: OPSET }, ...[...this.#domains].map((domain) => ({ domain, version: 1 }))],
      graph: {
        name: this.name,
        node: this.#nodes,
        initializer: this.#initializers,
        input: this.#inputs,
        output: this.#outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function bytesOf(a: Float32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function valueInfo(name: string, type: 'float' | 'int64', shape: Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: type === 'float' ? DataType.FLOAT : DataType.INT64,
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, v: Attr): onnxProto.onnx.IAttributeProto {
  if (typeof v === 'number') return { name, type: AttributeType.INT, i: v };
  if (typeof v === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: AttributeType.INTS, ints: v };
  if ('float' in v) return { name, type: AttributeType.FLOAT, f: v.float };
  return { name, type: AttributeType.FLOATS, floats: v.floats };
}
