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
  Closed,
  UnsupportedVersion,
  CorruptFile,
  TruncatedFile,
  IoError,
  Unsupported,
  Internal,
};

// Every code, for the test that ties them to the TypeScript list.
constexpr ErrorCode kAllErrorCodes[] = {
    ErrorCode::InvalidArgument, ErrorCode::DimMismatch,     ErrorCode::NonFinite,     ErrorCode::InvalidK,
    ErrorCode::DuplicateId,     ErrorCode::UnknownId,       ErrorCode::EmptyIndex,    ErrorCode::RequestTooLarge,
    ErrorCode::NoOriginals,     ErrorCode::NotAnIndex,      ErrorCode::NotAModel,     ErrorCode::Busy,
    ErrorCode::Closed,          ErrorCode::UnsupportedVersion, ErrorCode::CorruptFile, ErrorCode::TruncatedFile,
    ErrorCode::IoError,         ErrorCode::Unsupported,     ErrorCode::Internal,
};
static_assert(sizeof(kAllErrorCodes) / sizeof(ErrorCode) == size_t(ErrorCode::Internal) + 1,
              "kAllErrorCodes must list every code (Internal stays last)");

const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace lmrec
