#include "util/error.h"

namespace lmrec {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidArgument: return "INVALID_ARGUMENT";
    case ErrorCode::DimMismatch: return "DIM_MISMATCH";
    case ErrorCode::NonFinite: return "NON_FINITE";
    case ErrorCode::InvalidK: return "INVALID_K";
    case ErrorCode::DuplicateId: return "DUPLICATE_ID";
    case ErrorCode::UnknownId: return "UNKNOWN_ID";
    case ErrorCode::EmptyIndex: return "EMPTY_INDEX";
    case ErrorCode::RequestTooLarge: return "REQUEST_TOO_LARGE";
    case ErrorCode::NoOriginals: return "NO_ORIGINALS";
    case ErrorCode::NotAnIndex: return "NOT_AN_INDEX";
    case ErrorCode::NotAModel: return "NOT_A_MODEL";
    case ErrorCode::Busy: return "BUSY";
    case ErrorCode::Closed: return "CLOSED";
    case ErrorCode::UnsupportedVersion: return "UNSUPPORTED_VERSION";
    case ErrorCode::CorruptFile: return "CORRUPT_FILE";
    case ErrorCode::TruncatedFile: return "TRUNCATED_FILE";
    case ErrorCode::IoError: return "IO_ERROR";
    case ErrorCode::Unsupported: return "UNSUPPORTED";
    case ErrorCode::Internal: return "INTERNAL";
  }
  return "INTERNAL";
}

}  // namespace lmrec
