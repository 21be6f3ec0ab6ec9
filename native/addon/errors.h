// Turns core exceptions into JS LmrecError objects carrying the same code.
#pragma once
#include <napi.h>

#include <string>

namespace lmrec::addon {

Napi::Error make_error(Napi::Env env, const std::string& code, const std::string& message);

// Runs f, converting any C++ exception into a thrown JS LmrecError. Every entry point from
// JS goes through this: an escaped C++ exception would otherwise end the process.
template <class F>
auto guard(Napi::Env env, F&& f) -> decltype(f());

// Runs `work` on libuv's thread pool and settles a promise: resolved with `resolve(env)` on
// the JS thread, or rejected with an LmrecError.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;
  using Resolve = std::function<Napi::Value(Napi::Env)>;
  static Napi::Promise run(Napi::Env env, const char* name, Work work, Resolve resolve);

 protected:
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& e) override;

 private:
  PromiseWorker(Napi::Env env, const char* name, Work work, Resolve resolve);
  Napi::Promise::Deferred deferred_;
  Work work_;
  Resolve resolve_;
  std::string code_ = "INTERNAL";
};

// Names an exception for make_error: (code, message).
std::pair<std::string, std::string> describe_current_exception();

template <class F>
auto guard(Napi::Env env, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    const auto [code, message] = describe_current_exception();
    throw make_error(env, code, message);
  }
}

}  // namespace lmrec::addon
