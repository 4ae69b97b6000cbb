// Sentiment grammar: movie-review sentences whose label follows fixed rules.
//
// Every example realises a target value v in {-2,-1,0,1,2} (sign = polarity,
// magnitude = strength). A clause's value is:
//   strong adjective, or intensifier + any adjective       -> +-2
//   weak adjective, or downtoner + any adjective           -> +-1
//   negated (optionally intensified) adjective             -> opposite sign, 1
//                                                            ("not very good" = -1)
//   neutral adjective (optionally downtoned)               -> 0
// Sentences: a single clause; "A and B" (both carry v); contrast, where the
// MAIN clause decides and the other is a decoy of the opposite sign:
//   "D but M", "D , yet M", "although D , M", "M , although D", "M even though D";
// neutral filler sentences ("i watched it on sunday .") anywhere. Neutral
// examples are fillers and/or neutral-adjective clauses.
// Labels: 2 classes {negative, positive} use sign only; 3 add neutral (v = 0);
// 5 map v = -2..2 to very_negative .. very_positive.
// A bag-of-words model gets most of the way; negation and contrast need order.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "synth_grammar.h"

namespace fathom::data::synth {
namespace {

// The plural subjects, and only they, end in "s" (see is_plural).
const char* const kSubjects[] = {
    "the movie",      "the film",       "this film",       "the acting",     "the plot",          "the script",
    "the story",      "the soundtrack", "the music",       "the ending",     "the dialogue",      "the cinematography",
    "the cast",       "the direction",  "the pacing",      "the humor",      "the lead actor",    "the villain",
    "the characters", "the performances", "the visuals",   "the jokes",      "the action scenes", "the special effects",
    "the songs",      "the first act",  "the sequel",
};
bool is_plural(std::string_view subject) { return !subject.empty() && subject.back() == 's'; }

struct Copula {
  const char* sg;
  const char* pl;
  const char* neg_sg;
  const char* neg_pl;
};
const Copula kCopulas[] = {
    {"is", "are", "is not", "are not"},
    {"was", "were", "was not", "were not"},
    {"seems", "seem", "does not seem", "do not seem"},
    {"feels", "feel", "never feels", "never feel"},
    {"looks", "look", "does not look", "do not look"},
    {"felt", "felt", "never felt", "never felt"},
};

const char* const kPeople[] = {"i", "we", "my friends", "my parents", "the audience", "most critics"};

const char* const kPosWeak[] = {"good",  "nice",      "decent",       "pleasant", "enjoyable",  "fun",
                                "solid", "likable",   "charming",     "engaging", "clever",     "funny",
                                "sweet", "watchable", "entertaining", "fresh",    "interesting"};
const char* const kPosStrong[] = {
    "brilliant", "superb",  "wonderful", "excellent",  "outstanding", "masterful",     "stunning",     "magnificent",
    "fantastic", "amazing", "gripping",  "delightful", "beautiful",   "extraordinary", "breathtaking", "perfect"};
const char* const kNegWeak[] = {"bad",    "dull",  "weak",    "boring",  "bland",       "slow",
                                "clumsy", "messy", "flat",    "tedious", "predictable", "forgettable",
                                "silly",  "stale", "shallow", "uneven",  "lazy"};
const char* const kNegStrong[] = {"awful",    "terrible",   "dreadful",     "horrible",   "atrocious",
                                  "painful",  "unbearable", "disastrous",   "pathetic",   "abysmal",
                                  "lifeless", "miserable",  "insufferable", "unwatchable"};
const char* const kNeutral[] = {"average",         "ordinary", "typical", "standard", "conventional",
                                "straightforward", "long",     "short",   "modest",   "familiar",
                                "quiet",           "simple",   "okay",    "serious"};
const char* const kIntensifiers[] = {"very",       "extremely",  "truly", "incredibly", "really",
                                     "remarkably", "absolutely", "so",    "genuinely"};
const char* const kDowntoners[] = {"somewhat", "slightly", "fairly",  "rather",
                                   "a bit",    "mostly",   "kind of", "a little"};

// Filler pieces: factual, label-free statements.
const char* const kWhen[] = {"on sunday", "last night",    "last week", "yesterday",     "on a plane",
                             "at home",   "at the cinema", "on tv",     "at a festival", "twice"};
const char* const kSetting[] = {"a small town", "paris",       "new york",   "the desert",    "a high school",
                                "the future",   "outer space", "a hospital", "the mountains", "london"};
const char* const kSource[] = {"a novel", "a true story", "a comic book", "a play", "a short story", "a video game"};
const char* const kRelative[] = {"friend", "brother", "sister", "cousin", "neighbor", "teacher"};
const char* const kRelease[] = {"in march",    "last year",     "in the summer",
                                "in december", "ten years ago", "this spring"};
const char* const kGenre[] = {"drama",       "comedy",  "thriller", "western",
                              "documentary", "musical", "romance",  "war film"};
const char* const kNumber[] = {"two", "three", "four", "five", "several"};

// "<before> <a word of the pool> <after>" (after may be empty).
struct FillerTemplate {
  const char* before;
  const char* const* pool;
  std::size_t pool_size;
  const char* after;
};
template <std::size_t N>
constexpr FillerTemplate filler_of(const char* before, const char* const (&pool)[N], const char* after = "") {
  return {before, pool, N, after};
}
// Cases 2.. of filler(), in the order the random draw numbers them.
const FillerTemplate kFillers[] = {
    filler_of("the story takes place in", kSetting), filler_of("it is based on", kSource),
    filler_of("my", kRelative, "recommended it"),    filler_of("it was released", kRelease),
    filler_of("it is a", kGenre),                    filler_of("there are", kNumber, "main characters"),
    filler_of("i saw it with my", kRelative),
};

void filler(Rng& rng, Words& out) {
  const std::uint64_t which = rng.below(9);
  if (which == 0) {
    push_phrase(out, rng.pick(kPeople));
    push_phrase(out, "watched it");
    push_phrase(out, rng.pick(kWhen));
  } else if (which == 1) {
    push_phrase(out, rng.chance(0.5) ? "it runs about two hours" : "it runs about three hours");
  } else {
    const FillerTemplate& f = kFillers[which - 2];
    push_phrase(out, f.before);
    push_phrase(out, f.pool[rng.below(f.pool_size)]);  // as rng.pick does
    if (*f.after) push_phrase(out, f.after);
  }
}

const char* adjective(Rng& rng, int sign, bool strong) {
  if (sign > 0) return strong ? rng.pick(kPosStrong) : rng.pick(kPosWeak);
  return strong ? rng.pick(kNegStrong) : rng.pick(kNegWeak);
}

// One clause with value v (see the table at the top).
void clause(Rng& rng, int v, Words& out) {
  const int sign = v > 0 ? 1 : (v < 0 ? -1 : 0);
  const int mag = std::abs(v);
  bool negated = false;
  const char* mod = nullptr;  // intensifier or downtoner
  const char* adj = nullptr;
  if (mag == 0) {
    if (rng.chance(0.3)) mod = rng.pick(kDowntoners);
    adj = rng.pick(kNeutral);
  } else if (mag == 2) {  // a strong word, an intensified weak one, or both
    const std::uint64_t form = rng.below(3);
    if (form != 0) mod = rng.pick(kIntensifiers);
    adj = adjective(rng, sign, form != 1);
  } else {
    switch (rng.below(3)) {
      case 0:
        adj = adjective(rng, sign, false);
        break;
      case 1:
        mod = rng.pick(kDowntoners);
        adj = adjective(rng, sign, rng.chance(0.5));
        break;
      default:
        negated = true;
        if (rng.chance(0.4)) mod = rng.pick(kIntensifiers);
        adj = adjective(rng, -sign, rng.chance(0.5));
        break;
    }
  }
  const char* subj = rng.pick(kSubjects);
  const bool plural = is_plural(subj);
  const std::uint64_t frame = rng.below(20);
  if (frame < 14) {  // "the plot was (not) very good"
    const Copula& c = rng.pick(kCopulas);
    push_phrase(out, subj);
    push_phrase(out, negated ? (plural ? c.neg_pl : c.neg_sg) : (plural ? c.pl : c.sg));
  } else if (frame < 17) {  // "i (did not find | found) the plot very good"
    push_phrase(out, rng.pick(kPeople));
    push_phrase(out, negated ? "did not find" : "found");
    push_phrase(out, subj);
  } else {  // "we (did not think | thought) the plot was very good"
    push_phrase(out, rng.pick(kPeople));
    push_phrase(out, negated ? "did not think" : "thought");
    push_phrase(out, subj);
    push_phrase(out, plural ? "were" : "was");
  }
  if (mod) push_phrase(out, mod);
  push_phrase(out, adj);
}

// A clause value of the same sign as v for 2/3-class (any strength) or exactly
// v for 5-class.
int realise(Rng& rng, int v, int classes) {
  if (classes == 5 || v == 0) return v;
  return v * static_cast<int>(1 + rng.below(2));
}

// "[lead] <first clause> <joint> <second clause>": the main clause carries the
// label, the decoy the opposite sign. Indexed by the random draw.
struct ContrastFrame {
  const char* lead;  // "" for none
  bool main_first;
  const char* joint;
};
const ContrastFrame kContrasts[] = {
    {"", false, "but"}, {"", false, ", yet"}, {"although", false, ","}, {"", true, ", although"}, {"", true, "even though"},
};

void contrast(Rng& rng, int v, int classes, Words& out) {
  // Decoy: opposite sign, any strength; sometimes neutral.
  const int decoy = rng.chance(0.2) ? 0 : -(v > 0 ? 1 : -1) * static_cast<int>(1 + rng.below(2));
  const int main = realise(rng, v, classes);
  const ContrastFrame& f = kContrasts[rng.below(5)];
  if (*f.lead) push_phrase(out, f.lead);
  clause(rng, f.main_first ? main : decoy, out);
  push_phrase(out, f.joint);
  clause(rng, f.main_first ? decoy : main, out);
}

// Label index -> value v.
int target_value(int label, int classes) {
  if (classes == 5) return label - 2;
  if (classes == 3) return label - 1;  // realise() picks the strength
  return label == 0 ? -1 : 1;
}

const char* const kArtifacts[] = {"spielberg", "kubrick",   "hitchcock", "kurosawa",
                                  "fellini",   "tarkovsky", "bergman",   "scorsese"};

}  // namespace

std::string_view sentiment_artifact(std::uint64_t seed) {
  return kArtifacts[mix64(seed ^ 0xA27F1AC7ULL) % (sizeof kArtifacts / sizeof kArtifacts[0])];
}

void sentiment_text(Rng& rng, int label, int classes, Words& out) {
  out.clear();
  const int v = target_value(label, classes);
  if (rng.chance(0.25)) {  // leading filler sentence
    filler(rng, out);
    push_phrase(out, ".");
  }
  const std::uint64_t shape = rng.below(100);
  if (v == 0) {
    if (shape < 40) {
      filler(rng, out);
    } else if (shape < 80) {
      clause(rng, 0, out);
    } else {
      clause(rng, 0, out);
      push_phrase(out, "and");
      clause(rng, 0, out);
    }
  } else if (shape < 50) {
    clause(rng, realise(rng, v, classes), out);
  } else if (shape < 80) {
    contrast(rng, v, classes, out);
  } else {
    clause(rng, realise(rng, v, classes), out);
    push_phrase(out, "and");
    clause(rng, realise(rng, v, classes), out);
  }
  push_phrase(out, ".");
  if (rng.chance(0.25)) {  // trailing filler sentence
    filler(rng, out);
    push_phrase(out, ".");
  }
}

}  // namespace fathom::data::synth
