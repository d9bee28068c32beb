/**
 * Tensor records made in the shape of an analysed Tensor. A reader's record (TensorRecord)
 * becomes a Tensor when analyze() decides its role and counts its elements. Made here, it has
 * every field of a Tensor already, in Tensor's order (model.ts), those that analyze() decides
 * still undefined: analyze() can then complete the record in place (AnalyzeOptions.consume)
 * instead of copying it into a new object, and completing it adds no field, so that every tensor
 * keeps one hidden class (a field added afterwards would also go to a separate property array,
 * one more object per tensor). Every reader makes its records here.
 */
import { Tensor, TensorRecord } from './model';

/** A record before analysis: Tensor's fields, those that analyze() decides not decided yet. */
type Unanalysed = TensorRecord & Partial<Tensor>;

/** A new record with the fields a reader knows (see TensorRecord); `role` and `roleReason` are set afterwards when the format knows them. */
export function tensorRecord(
  name: string,
  dtype: string,
  formatDtype: string | undefined,
  shape: number[],
  nbytes: number,
  file: string,
  dataOffset: number | null,
  storage: string | null,
  storageOffset: number | null,
  strides: number[] | null,
  storageNbytes: number | undefined,
  extra: TensorRecord['extra'],
): TensorRecord {
  const t: Unanalysed = {
    name,
    dtype,
    formatDtype,
    shape,
    nbytes,
    file,
    dataOffset,
    storage,
    storageOffset,
    strides,
    storageNbytes,
    role: undefined,
    roleReason: undefined,
    extra,
    present: undefined,
    numel: undefined,
    group: undefined,
    logicalShape: undefined,
    logicalNumel: undefined,
    quant: undefined,
    module: undefined,
  };
  return t;
}

/** A copy of any record (whatever made it) in the shape tensorRecord() gives. */
export function copyRecord(t: TensorRecord): TensorRecord {
  const c = tensorRecord(t.name, t.dtype, t.formatDtype, t.shape, t.nbytes, t.file, t.dataOffset, t.storage, t.storageOffset, t.strides, t.storageNbytes, t.extra);
  c.role = t.role;
  c.roleReason = t.roleReason;
  return c;
}
