// Word-list helpers shared by the sentiment and NLI grammars.
#include "synth_grammar.h"

namespace fathom::data::synth {

void push_phrase(Words& out, std::string_view phrase) {
  std::size_t start = 0;
  while (start <= phrase.size()) {
    std::size_t end = phrase.find(' ', start);
    if (end == std::string_view::npos) end = phrase.size();
    if (end > start) out.push_back(phrase.substr(start, end - start));
    start = end + 1;
  }
}

void push_article(Words& out, std::string_view next) {
  // Enough for our vocabulary (no "hour", "uniform", ...).
  const char c = next.empty() ? 'x' : next.front();
  const bool vowel = c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
  out.push_back(vowel ? "an" : "a");
}

std::string join_words(const Words& words) {
  std::string s;
  for (std::string_view w : words) {
    const bool punct = w == "," || w == "." || w == ";";
    if (!s.empty() && !punct) s += ' ';
    s.append(w.data(), w.size());
  }
  return s;
}

}  // namespace fathom::data::synth
