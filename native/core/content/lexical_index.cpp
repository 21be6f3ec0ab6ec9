#include "content/lexical_index.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "util/error.h"

namespace lmrec {

struct LexicalIndex::Scratch {
  std::vector<float> profile;     // dense over words, zero but at `touched`
  std::vector<uint32_t> touched;  // the profile's words
  std::vector<uint32_t> ends, lows, mids;  // per touched word: the walk's end, the bisection's other bracket, its middle
  std::vector<float> row;         // dense over items, zero between requests
  std::vector<uint32_t> reached;  // items whose row entry left zero, in order
  std::vector<uint32_t> part_items;
  std::vector<double> parts;
};

namespace {

void check_rows(const SparseRows& r, size_t words, const char* what) {
  const std::string name(what);
  if (r.ptr.empty() || r.ptr.front() != 0 || r.ptr.back() != r.index.size() || r.index.size() != r.value.size())
    throw Error(ErrorCode::InvalidArgument, name + ": the row pointers do not match the entries");
  for (size_t i = 1; i < r.ptr.size(); ++i)
    if (r.ptr[i] < r.ptr[i - 1]) throw Error(ErrorCode::InvalidArgument, name + ": row pointers must not decrease");
  for (size_t p = 0; p < r.index.size(); ++p) {
    if (r.index[p] >= words)
      throw Error(ErrorCode::InvalidArgument, name + ": word " + std::to_string(r.index[p]) + " is past the " +
                                                  std::to_string(words) + " words");
    // a walk tells the items it reached by their sums leaving zero: weights must be positive
    if (!(std::isfinite(r.value[p]) && r.value[p] > 0))
      throw Error(ErrorCode::NonFinite, name + ": weights must be positive finite numbers");
  }
}

// The transpose of `rows` over `columns` columns, each column's entries heaviest first (ties:
// the lower row), as src/text/tfidf.ts's invert orders them.
SparseRows invert(const SparseRows& rows, size_t columns) {
  SparseRows t;
  t.ptr.assign(columns + 1, 0);
  for (uint32_t w : rows.index) ++t.ptr[w + 1];
  for (size_t w = 0; w < columns; ++w) t.ptr[w + 1] += t.ptr[w];
  t.index.resize(rows.index.size());
  t.value.resize(rows.index.size());
  std::vector<uint32_t> fill(t.ptr.begin(), t.ptr.end() - 1);
  for (size_t i = 0; i < rows.rows(); ++i)
    for (uint32_t p = rows.ptr[i]; p < rows.ptr[i + 1]; ++p) {
      const uint32_t at = fill[rows.index[p]]++;
      t.index[at] = uint32_t(i);
      t.value[at] = rows.value[p];
    }
  std::vector<std::pair<float, uint32_t>> run;
  for (size_t w = 0; w < columns; ++w) {
    const uint32_t from = t.ptr[w], to = t.ptr[w + 1];
    if (to - from < 2) continue;
    run.clear();
    for (uint32_t p = from; p < to; ++p) run.emplace_back(t.value[p], t.index[p]);
    std::sort(run.begin(), run.end(), [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
    for (uint32_t p = from; p < to; ++p) {
      t.value[p] = run[p - from].first;
      t.index[p] = run[p - from].second;
    }
  }
  return t;
}

// The `limit` best of (items[j], scores[j]), j < n, by score then the lower item, ascending by item.
void highest(std::vector<uint32_t>& items, std::vector<double>& scores, size_t n, size_t limit) {
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  const auto better = [&](uint32_t a, uint32_t b) { return scores[a] > scores[b] || (scores[a] == scores[b] && items[a] < items[b]); };
  if (limit < n) {
    std::nth_element(order.begin(), order.begin() + limit, order.end(), better);
    order.resize(limit);
  }
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return items[a] < items[b]; });
  std::vector<uint32_t> kept_items(order.size());
  std::vector<double> kept_scores(order.size());
  for (size_t j = 0; j < order.size(); ++j) {
    kept_items[j] = items[order[j]];
    kept_scores[j] = scores[order[j]];
  }
  items = std::move(kept_items);
  scores = std::move(kept_scores);
}

}  // namespace

LexicalIndex::LexicalIndex(size_t words, SparseRows rows) : words_(words), rows_(std::move(rows)) {
  if (words > kMaxWords) throw Error(ErrorCode::RequestTooLarge, "at most " + std::to_string(kMaxWords) + " words");
  if (rows_.rows() >= kMaxItems) throw Error(ErrorCode::RequestTooLarge, "at most " + std::to_string(kMaxItems) + " items");
  check_rows(rows_, words, "item vectors");
  postings_ = invert(rows_, words);
}

LexicalIndex::LexicalIndex(size_t words, SparseRows rows, SparseRows postings)
    : words_(words), rows_(std::move(rows)), postings_(std::move(postings)) {}

LexicalIndex::~LexicalIndex() = default;

std::shared_ptr<LexicalIndex> LexicalIndex::with_items(SparseRows added) const {
  check_rows(added, words_, "added item vectors");
  const size_t n = items();
  if (n + added.rows() >= kMaxItems) throw Error(ErrorCode::RequestTooLarge, "at most " + std::to_string(kMaxItems) + " items");
  const size_t extra = added.index.size();
  if (rows_.index.size() + extra > UINT32_MAX) throw Error(ErrorCode::RequestTooLarge, "the item vectors would pass 2^32 entries");
  SparseRows rows;
  rows.ptr = rows_.ptr;
  rows.ptr.reserve(rows_.ptr.size() + added.rows());
  const uint32_t nnz = rows_.ptr.back();
  for (size_t i = 1; i < added.ptr.size(); ++i) rows.ptr.push_back(nnz + added.ptr[i]);
  rows.index.reserve(rows_.index.size() + extra);
  rows.index = rows_.index;
  rows.index.insert(rows.index.end(), added.index.begin(), added.index.end());
  rows.value.reserve(rows_.value.size() + extra);
  rows.value = rows_.value;
  rows.value.insert(rows.value.end(), added.value.begin(), added.value.end());

  // each word's new postings, heaviest first, merged after its old ones of at least their weight
  const SparseRows fresh = invert(added, words_);
  SparseRows post;
  post.ptr.resize(words_ + 1);
  for (size_t w = 0; w <= words_; ++w) post.ptr[w] = postings_.ptr[w] + fresh.ptr[w];
  post.index.resize(postings_.index.size() + extra);
  post.value.resize(post.index.size());
  for (size_t w = 0; w < words_; ++w) {
    uint32_t a = postings_.ptr[w], b = fresh.ptr[w], at = post.ptr[w];
    const uint32_t a_end = postings_.ptr[w + 1], b_end = fresh.ptr[w + 1];
    if (b == b_end) {  // no new postings: the block moves whole
      std::copy(postings_.index.begin() + a, postings_.index.begin() + a_end, post.index.begin() + at);
      std::copy(postings_.value.begin() + a, postings_.value.begin() + a_end, post.value.begin() + at);
      continue;
    }
    while (a < a_end || b < b_end) {
      // ties: the old (lower-numbered) item first, as a full build orders them
      if (b >= b_end || (a < a_end && postings_.value[a] >= fresh.value[b])) {
        post.index[at] = postings_.index[a];
        post.value[at++] = postings_.value[a++];
      } else {
        post.index[at] = uint32_t(n + fresh.index[b]);
        post.value[at++] = fresh.value[b++];
      }
    }
  }
  return std::shared_ptr<LexicalIndex>(new LexicalIndex(words_, std::move(rows), std::move(post)));
}

size_t LexicalIndex::memory_bytes() const {
  const auto bytes = [](const SparseRows& r) { return (r.ptr.capacity() + r.index.capacity()) * 4 + r.value.capacity() * 4; };
  return sizeof(*this) + bytes(rows_) + bytes(postings_);
}

std::unique_ptr<LexicalIndex::Scratch> LexicalIndex::take_scratch() const {
  {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    if (!pool_.empty()) {
      std::unique_ptr<Scratch> s = std::move(pool_.back());
      pool_.pop_back();
      return s;
    }
  }
  auto s = std::make_unique<Scratch>();
  s->profile.assign(words_, 0.0f);
  s->row.assign(items(), 0.0f);
  s->reached.resize(items());
  return s;
}

void LexicalIndex::give_back(std::unique_ptr<Scratch> s) const {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  pool_.push_back(std::move(s));
}

void LexicalIndex::profile(const LexicalQuery& q, Scratch& s) const {
  float* into = s.profile.data();
  for (size_t j = 0; j < q.history_size; ++j) {
    const size_t i = q.history[j];
    if (i >= items()) continue;
    for (uint32_t p = rows_.ptr[i]; p < rows_.ptr[i + 1]; ++p) {
      const uint32_t w = rows_.index[p];
      if (into[w] == 0) s.touched.push_back(w);
      into[w] = float(double(into[w]) + double(rows_.value[p]));
    }
  }
  double norm = 0;
  for (uint32_t w : s.touched) norm += double(into[w]) * double(into[w]);
  const double scale = norm > 0 ? 1 / std::sqrt(norm) : 0;
  for (uint32_t w : s.touched) into[w] = float(double(into[w]) * scale);
}

double LexicalIndex::dot(const Scratch& s, size_t item) const {
  if (item >= items()) return 0;
  double sum = 0;
  for (uint32_t p = rows_.ptr[item]; p < rows_.ptr[item + 1]; ++p) sum += double(s.profile[rows_.index[p]]) * double(rows_.value[p]);
  return sum;
}

// End of word w's postings of weight at least `min`, searched within [lo, hi) (it lies there).
static size_t heavier_within(const std::vector<float>& value, size_t lo, size_t hi, double min) {
  while (lo < hi) {
    const size_t mid = (lo + hi) >> 1;
    if (double(value[mid]) >= min) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// The reference bisects t over 32 steps, searching every word's postings at each; here each
// word's search is kept within the bracket the earlier steps left it (ends at hi, lows at lo),
// and the bisection stops once no bracket holds more than its end: every later t would read
// the same postings. The postings read are the reference's, at a fraction of the searches.
void LexicalIndex::bounded_ends(Scratch& s, size_t budget) const {
  const size_t W = s.touched.size();
  double hi = 0;
  for (uint32_t w : s.touched)
    if (postings_.ptr[w + 1] > postings_.ptr[w]) hi = std::max(hi, double(s.profile[w]) * double(postings_.value[postings_.ptr[w]]));
  double lo = 0;
  hi = hi * 1.000001 + std::numeric_limits<double>::denorm_min();  // above every contribution
  s.ends.resize(W);
  s.lows.resize(W);
  s.mids.resize(W);
  for (size_t j = 0; j < W; ++j) {
    const uint32_t w = s.touched[j];
    s.ends[j] = postings_.ptr[w];  // at hi, nothing is read
    s.lows[j] = s.profile[w] > 0 ? postings_.ptr[w + 1] : postings_.ptr[w];  // at 0, everything
  }
  std::vector<uint32_t>& at = s.mids;
  for (int step = 0; step < 32; ++step) {
    bool settled = true;
    for (size_t j = 0; j < W && settled; ++j) settled = s.ends[j] == s.lows[j];
    if (settled) break;
    const double mid = (lo + hi) / 2;
    size_t count = 0;
    for (size_t j = 0; j < W; ++j) {
      const uint32_t w = s.touched[j];
      at[j] = s.profile[w] > 0 ? uint32_t(heavier_within(postings_.value, s.ends[j], s.lows[j], mid / double(s.profile[w]))) : postings_.ptr[w];
      count += at[j] - postings_.ptr[w];
    }
    if (count > budget) {
      lo = mid;
      std::copy_n(at.begin(), W, s.lows.begin());
    } else {
      hi = mid;
      std::copy_n(at.begin(), W, s.ends.begin());
    }
  }
}

LexicalAnswer LexicalIndex::query(const LexicalQuery& q, const LexicalWeights& weights) const {
  std::unique_ptr<Scratch> scratch = take_scratch();
  Scratch& s = *scratch;
  LexicalAnswer out;
  profile(q, s);
  out.given.resize(q.given_size);
  for (size_t j = 0; j < q.given_size; ++j) out.given[j] = weights.of(q.given[j]) * dot(s, q.given[j]);

  // the walk over the postings of the profile's words, all of them or the heaviest `postings`
  size_t total = 0;
  for (uint32_t w : s.touched) total += postings_.ptr[w + 1] - postings_.ptr[w];
  const bool complete = total <= q.postings;
  if (!complete) bounded_ends(s, q.postings);
  size_t reached = 0;
  float* row = s.row.data();
  for (size_t j = 0; j < s.touched.size(); ++j) {
    const uint32_t w = s.touched[j];
    const double pw = double(s.profile[w]);
    if (pw == 0) continue;
    const size_t from = postings_.ptr[w];
    const size_t to = complete ? postings_.ptr[w + 1] : s.ends[j];
    for (size_t p = from; p < to; ++p) {
      const uint32_t i = postings_.index[p];
      if (row[i] == 0) s.reached[reached++] = i;
      row[i] = float(double(row[i]) + pw * double(postings_.value[p]));
    }
  }
  s.part_items.clear();
  s.parts.clear();
  for (size_t j = 0; j < reached; ++j) {
    const uint32_t i = s.reached[j];
    const double part = weights.of(i) * double(row[i]);
    row[i] = 0;
    if (part != 0) {
      s.part_items.push_back(i);
      s.parts.push_back(part);
    }
  }
  out.items = s.part_items;
  out.scores = s.parts;
  highest(out.items, out.scores, out.items.size(), complete ? q.limit : 4 * q.limit);
  if (!complete) {  // partial sums chose the leaders; their exact parts choose the best
    for (size_t j = 0; j < out.items.size(); ++j) out.scores[j] = weights.of(out.items[j]) * dot(s, out.items[j]);
    highest(out.items, out.scores, out.items.size(), q.limit);
  }
  for (uint32_t w : s.touched) s.profile[w] = 0;
  s.touched.clear();
  give_back(std::move(scratch));
  return out;
}

}  // namespace lmrec
