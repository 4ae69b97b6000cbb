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
#include <cstdlib>

#include "synth_grammar.h"

namespace fathom::data::synth {
namespace {

struct Subject {
  const char* words;
  bool plural;
};
const Subject kSubjects[] = {
    {"the movie", false},      {"the film", false},      {"this film", false},        {"the acting", false},
    {"the plot", false},       {"the script", false},    {"the story", false},        {"the soundtrack", false},
    {"the music", false},      {"the ending", false},    {"the dialogue", false},     {"the cinematography", false},
    {"the cast", false},       {"the direction", false}, {"the pacing", false},       {"the humor", false},
    {"the lead actor", false}, {"the villain", false},   {"the characters", true},    {"the performances", true},
    {"the visuals", true},     {"the jokes", true},      {"the action scenes", true}, {"the special effects", true},
    {"the songs", true},       {"the first act", false}, {"the sequel", false},
};

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

void filler(Rng& rng, Words& out) {
  switch (rng.below(9)) {
    case 0:
      push_phrase(out, rng.pick(kPeople));
      push_phrase(out, "watched it");
      push_phrase(out, rng.pick(kWhen));
      break;
    case 1:
      push_phrase(out, rng.chance(0.5) ? "it runs about two hours" : "it runs about three hours");
      break;
    case 2:
      push_phrase(out, "the story takes place in");
      push_phrase(out, rng.pick(kSetting));
      break;
    case 3:
      push_phrase(out, "it is based on");
      push_phrase(out, rng.pick(kSource));
      break;
    case 4:
      push_phrase(out, "my");
      push_phrase(out, rng.pick(kRelative));
      push_phrase(out, "recommended it");
      break;
    case 5:
      push_phrase(out, "it was released");
      push_phrase(out, rng.pick(kRelease));
      break;
    case 6:
      push_phrase(out, "it is a");
      push_phrase(out, rng.pick(kGenre));
      break;
    case 7:
      push_phrase(out, "there are");
      push_phrase(out, rng.pick(kNumber));
      push_phrase(out, "main characters");
      break;
    default:
      push_phrase(out, "i saw it with my");
      push_phrase(out, rng.pick(kRelative));
      break;
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
  } else if (mag == 2) {
    switch (rng.below(3)) {
      case 0:
        adj = adjective(rng, sign, true);
        break;
      case 1:
        mod = rng.pick(kIntensifiers);
        adj = adjective(rng, sign, false);
        break;
      default:
        mod = rng.pick(kIntensifiers);
        adj = adjective(rng, sign, true);
        break;
    }
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
  const Subject& subj = rng.pick(kSubjects);
  const std::uint64_t frame = rng.below(20);
  if (frame < 14) {  // "the plot was (not) very good"
    const Copula& c = rng.pick(kCopulas);
    push_phrase(out, subj.words);
    push_phrase(out, negated ? (subj.plural ? c.neg_pl : c.neg_sg) : (subj.plural ? c.pl : c.sg));
  } else if (frame < 17) {  // "i (did not find | found) the plot very good"
    push_phrase(out, rng.pick(kPeople));
    push_phrase(out, negated ? "did not find" : "found");
    push_phrase(out, subj.words);
  } else {  // "we (did not think | thought) the plot was very good"
    push_phrase(out, rng.pick(kPeople));
    push_phrase(out, negated ? "did not think" : "thought");
    push_phrase(out, subj.words);
    push_phrase(out, subj.plural ? "were" : "was");
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

void contrast(Rng& rng, int v, int classes, Words& out) {
  // Decoy: opposite sign, any strength; sometimes neutral.
  const int decoy = rng.chance(0.2) ? 0 : -(v > 0 ? 1 : -1) * static_cast<int>(1 + rng.below(2));
  const int main = realise(rng, v, classes);
  switch (rng.below(5)) {
    case 0:
      clause(rng, decoy, out);
      push_phrase(out, "but");
      clause(rng, main, out);
      break;
    case 1:
      clause(rng, decoy, out);
      push_phrase(out, ", yet");
      clause(rng, main, out);
      break;
    case 2:
      push_phrase(out, "although");
      clause(rng, decoy, out);
      push_phrase(out, ",");
      clause(rng, main, out);
      break;
    case 3:
      clause(rng, main, out);
      push_phrase(out, ", although");
      clause(rng, decoy, out);
      break;
    default:
      clause(rng, main, out);
      push_phrase(out, "even though");
      clause(rng, decoy, out);
      break;
  }
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
