// Typed errors of the native core. The addon turns each into a JS LmrecError carrying the
// same code, so callers can branch on `err.code` instead of parsing messages.
#pragma once
#include <stdexcept>
#include <string>

namespace lmrec {

enum class ErrorCode {
  InvalidArgument,
  DimMismatch,
  NonFinite,
  InvalidK,
  DuplicateId,
  UnknownId,
  EmptyIndex,
  RequestTooLarge,
  NoOriginals,
  NotAnIndex,
  NotAModel,
  Busy,
  UnsupportedVersion,
  CorruptFile,
  TruncatedFile,
  IoError,
  Unsupported,
  Internal,
};

const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace lmrec
