// The lexical (TF-IDF) part of a served request, off the JS thread: item vectors by rows and
// their inverted index, a request's profile (the mean of its recent items' vectors), the
// cosine of given items with it, and the best items its words reach, reading a bounded number
// of postings, the heaviest first. The arithmetic follows src/recommender/content-scores.ts
// step by step (float32 sums where it keeps Float32Arrays, doubles where it keeps numbers), so
// the TypeScript reference and this agree to the last bit on the same platform.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace lmrec {

// A sparse matrix by rows: row r's columns are index[ptr[r] .. ptr[r+1]), weights in value.
struct SparseRows {
  std::vector<uint32_t> ptr{0};
  std::vector<uint32_t> index;
  std::vector<float> value;
  size_t rows() const { return ptr.size() - 1; }
};

// One request: the items whose vectors make the profile, the items whose parts are wanted,
// how many of the best reached items to return, and how many postings to read at most.
struct LexicalQuery {
  const uint32_t* history = nullptr;
  size_t history_size = 0;
  const uint32_t* given = nullptr;
  size_t given_size = 0;
  size_t limit = 0;
  size_t postings = SIZE_MAX;
};

// Weight of an item's part: `warm` for items with warm[i] != 0, `cold` for the rest (items past
// the mask count as cold).
struct LexicalWeights {
  double warm = 1;
  double cold = 1;
  const uint8_t* mask = nullptr;
  size_t mask_size = 0;
  double of(size_t item) const { return item < mask_size && mask[item] ? warm : cold; }
};

struct LexicalAnswer {
  std::vector<double> given;    // parts of the given items, in their order
  std::vector<uint32_t> items;  // the best reached items with nonzero parts, ascending
  std::vector<double> scores;   // their exact parts
};

class LexicalIndex {
 public:
  static constexpr size_t kMaxWords = size_t(1) << 26;
  static constexpr size_t kMaxItems = size_t(1) << 31;

  // Rows over `words` columns: validated (InvalidArgument / NonFinite), postings built.
  LexicalIndex(size_t words, SparseRows rows);
  // A copy grown by `added` rows (numbered after this index's items); only their postings are
  // merged in, each word's staying heaviest first.
  std::shared_ptr<LexicalIndex> with_items(SparseRows added) const;
  ~LexicalIndex();

  // Thread-safe; items past this index (added after it was built) have no words here.
  LexicalAnswer query(const LexicalQuery& q, const LexicalWeights& w) const;

  size_t items() const { return rows_.rows(); }
  size_t words() const { return words_; }
  size_t memory_bytes() const;

 private:
  struct Scratch;
  LexicalIndex(size_t words, SparseRows rows, SparseRows postings);
  std::unique_ptr<Scratch> take_scratch() const;
  void give_back(std::unique_ptr<Scratch> s) const;

  // The profile of q's history into s.profile (nonzero at s.touched).
  void profile(const LexicalQuery& q, Scratch& s) const;
  double dot(const Scratch& s, size_t item) const;
  // Where each touched word's walk ends when the postings read are those contributing at least
  // the smallest contribution t whose postings number at most `budget` (into s.ends).
  void bounded_ends(Scratch& s, size_t budget) const;

  size_t words_;
  SparseRows rows_;      // item -> words
  SparseRows postings_;  // word -> items, heaviest first (ties: the lower item)
  mutable std::mutex pool_mutex_;
  mutable std::vector<std::unique_ptr<Scratch>> pool_;  // per-request work arrays, reused
};

}  // namespace lmrec
