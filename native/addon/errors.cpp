#include "errors.h"

#include <new>

#include "addon_data.h"
#include "util/error.h"

namespace lmrec::addon {

Napi::Error make_error(Napi::Env env, const std::string& code, const std::string& message) {
  AddonData& data = addon_data(env);
  if (!data.error_class.IsEmpty()) {
    Napi::Object err = data.error_class.New({Napi::String::New(env, message), Napi::String::New(env, code)});
    return Napi::Error(env, err);
  }
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

std::pair<std::string, std::string> describe_current_exception() {
  try {
    throw;
  } catch (const lmrec::Error& e) {
    return {error_code_name(e.code()), e.what()};
  } catch (const std::bad_alloc&) {
    return {"OUT_OF_MEMORY", "out of memory: the request needs more memory than is available"};
  } catch (const std::exception& e) {
    return {"INTERNAL", e.what()};
  } catch (...) {
    return {"INTERNAL", "unknown native error"};
  }
}

PromiseWorker::PromiseWorker(Napi::Env env, const char* name, Work work, Resolve resolve)
    : Napi::AsyncWorker(env, name),
      deferred_(Napi::Promise::Deferred::New(env)),
      work_(std::move(work)),
      resolve_(std::move(resolve)) {}

Napi::Promise PromiseWorker::run(Napi::Env env, const char* name, Work work, Resolve resolve) {
  auto* worker = new PromiseWorker(env, name, std::move(work), std::move(resolve));
  Napi::Promise promise = worker->deferred_.Promise();
  worker->Queue();  // the worker deletes itself after settling
  return promise;
}

void PromiseWorker::Execute() {
  try {
    work_();
  } catch (...) {
    auto [code, message] = describe_current_exception();
    code_ = code;
    SetError(message);
  }
}

void PromiseWorker::OnOK() {
  Napi::Env env = Env();
  try {
    deferred_.Resolve(guard(env, [&] { return resolve_(env); }));
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  }
}

void PromiseWorker::OnError(const Napi::Error& e) {
  deferred_.Reject(make_error(Env(), code_, e.Message()).Value());
}

}  // namespace lmrec::addon
