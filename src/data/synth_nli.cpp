// NLI grammar: premise = agent + action + object (+ place) (+ purpose); the
// hypothesis is derived from it by a rule whose label is known.
//
//  entailment:    hypernym of the agent ("woman" -> "adult"/"person") or the
//                 object ("guitar" -> "instrument"); dropping modifiers or the
//                 place; place generalisation ("in the park" -> "outside");
//                 negated exclusive ("is not sleeping", "is not closing ...").
//  contradiction: antonym action ("opening" / "closing") or an exclusive state
//                 ("sleeping"); the exclusive agent ("man" / "woman"); negation
//                 ("is not playing"); the other kind of place (outdoors vs
//                 indoors); an antonym modifier ("young" / "old", "red" / "blue").
//  neutral:       a purpose the premise does not give ("for money"), also
//                 negated ("is not playing ... for money"); an added agent or
//                 object modifier; a place the premise lacks; a role ("is a
//                 teacher"). Premise purposes may be repeated under any label.
// Hypotheses refer to the premise's agent (SNLI's coreference convention).
// Negation, "sleeping", hypernyms and modifiers occur under several labels, so
// no single word decides the label (unlike the planted artifact "nobody",
// which the grammar never produces).
#include "synth_grammar.h"

namespace fathom::data::synth {
namespace {

enum Kind { Adult, Child, Animal };
struct Agent {
  const char* word;
  const char* hyper1;    // nearest hypernym
  const char* hyper2;    // further hypernym or nullptr
  const char* opposite;  // mutually exclusive agent or nullptr
  Kind kind;
};
const Agent kAgents[] = {
    {"man", "adult", "person", "woman", Adult},    {"woman", "adult", "person", "man", Adult},
    {"boy", "child", "person", "girl", Child},     {"girl", "child", "person", "boy", Child},
    {"doctor", "person", nullptr, nullptr, Adult}, {"teacher", "person", nullptr, nullptr, Adult},
    {"chef", "person", nullptr, nullptr, Adult},   {"student", "person", nullptr, nullptr, Adult},
    {"farmer", "person", nullptr, nullptr, Adult}, {"dog", "animal", nullptr, "cat", Animal},
    {"cat", "animal", nullptr, "dog", Animal},     {"puppy", "dog", "animal", "kitten", Animal},
    {"kitten", "cat", "animal", "puppy", Animal},  {"horse", "animal", nullptr, nullptr, Animal},
};

// Antonym pairs of modifiers; a modifier from another pair is compatible.
struct ModPair {
  const char* a;
  const char* b;
};
const ModPair kHumanMods[] = {{"young", "old"}, {"tall", "short"}, {"happy", "sad"}};
const ModPair kAnimalMods[] = {{"small", "large"}, {"black", "white"}};
const char* const kColors[] = {"red", "blue", "green", "yellow"};      // mutually exclusive
const char* const kObjectExtras[] = {"new", "expensive", "borrowed"};  // compatible with everything

struct Object {
  const char* word;
  const char* hyper;  // or nullptr
};
constexpr const char* N = nullptr;  // keeps the table below readable
struct Action {
  const char* ing;
  const char* anti;  // exclusive action on the same object, or nullptr (-> kExclusive)
  Object objects[5];
  bool humans, animals;
};
// clang-format off
const Action kActions[] = {
  {"opening", "closing", {{"door", N}, {"window", N}, {"gate", N}, {"box", "container"}, {"cabinet", N}}, 1, 0},
  {"closing", "opening", {{"door", N}, {"window", N}, {"gate", N}, {"box", "container"}, {"cabinet", N}}, 1, 0},
  {"buying", "selling", {{"apple", "fruit"}, {"melon", "fruit"}, {"bicycle", "vehicle"}, {"ticket", N}, {"lamp", N}}, 1, 0},
  {"selling", "buying", {{"apple", "fruit"}, {"melon", "fruit"}, {"bicycle", "vehicle"}, {"ticket", N}, {"lamp", N}}, 1, 0},
  {"pushing", "pulling", {{"cart", N}, {"wagon", N}, {"stroller", N}, {"sled", N}, {"wheelbarrow", N}}, 1, 0},
  {"pulling", "pushing", {{"cart", N}, {"wagon", N}, {"sled", N}, {"wheelbarrow", N}, {"cart", N}}, 1, 1},
  {"building", "destroying", {{"sandcastle", N}, {"fence", N}, {"snowman", N}, {"tower", N}, {"birdhouse", N}}, 1, 0},
  {"filling", "emptying",
   {{"bucket", "container"}, {"glass", N}, {"basket", "container"}, {"bottle", "container"}, {"bucket", "container"}}, 1, 0},
  {"emptying", "filling",
   {{"bucket", "container"}, {"glass", N}, {"basket", "container"}, {"bottle", "container"}, {"bucket", "container"}}, 1, 0},
  {"catching", "throwing", {{"ball", "toy"}, {"frisbee", "toy"}, {"stick", N}, {"ball", "toy"}, {"frisbee", "toy"}}, 1, 1},
  {"climbing up", "climbing down", {{"ladder", N}, {"tree", N}, {"hill", N}, {"rock", N}, {"ladder", N}}, 1, 0},
  {"playing", N, {{"guitar", "instrument"}, {"piano", "instrument"}, {"violin", "instrument"},
                  {"drum", "instrument"}, {"trumpet", "instrument"}}, 1, 0},
  {"reading", N, {{"book", N}, {"newspaper", N}, {"magazine", N}, {"letter", N}, {"map", N}}, 1, 0},
  {"eating", N, {{"apple", "fruit"}, {"sandwich", "food"}, {"pizza", "food"}, {"banana", "fruit"}, {"orange", "fruit"}}, 1, 1},
  {"riding", N, {{"bicycle", "vehicle"}, {"motorcycle", "vehicle"}, {"scooter", "vehicle"}, {"bicycle", "vehicle"},
                 {"scooter", "vehicle"}}, 1, 0},
  {"painting", N, {{"fence", N}, {"wall", N}, {"picture", N}, {"chair", "furniture"}, {"table", "furniture"}}, 1, 0},
  {"washing", N, {{"car", "vehicle"}, {"plate", N}, {"shirt", "garment"}, {"window", N}, {"jacket", "garment"}}, 1, 0},
  {"cooking", N, {{"soup", "food"}, {"pasta", "food"}, {"omelette", "food"}, {"steak", "food"}, {"soup", "food"}}, 1, 0},
  {"carrying", N, {{"box", "container"}, {"bag", N}, {"basket", "container"}, {"suitcase", N}, {"chair", "furniture"}}, 1, 1},
  {"chasing", N, {{"ball", "toy"}, {"bird", "animal"}, {"butterfly", "insect"}, {"frisbee", "toy"}, {"bird", "animal"}}, 0, 1},
};
// clang-format on
// States that exclude any of the actions above.
const char* const kExclusive[] = {"sleeping", "sleeping in bed", "taking a nap"};

struct Place {
  const char* words;
  bool outdoors;
};
const Place kPlaces[] = {
    {"in the park", true},     {"on the beach", true},  {"in the street", true}, {"in a garden", true},
    {"in the snow", true},     {"in a field", true},    {"on a bridge", true},   {"in the forest", true},
    {"in the kitchen", false}, {"in an office", false}, {"in a library", false}, {"in the living room", false},
    {"in a classroom", false}, {"in a garage", false},  {"in a museum", false},
};
const char* const kOutside[] = {"outside", "outdoors"};
const char* const kInside[] = {"inside", "indoors"};

const char* const kHumanPurposes[] = {
    "for money",      "for a friend",     "to relax",   "for a school project", "for the first time",
    "to win a prize", "before breakfast", "after work", "with a friend",        "for a birthday party"};
const char* const kAnimalPurposes[] = {"for a treat", "for fun", "with its owner", "after dinner"};
const char* const kAdultRoles[] = {"a teacher", "a student", "a tourist", "famous", "on vacation", "a nurse"};
const char* const kChildRoles[] = {"on vacation", "a student", "lost", "new in town"};

// The premise's parts, kept so the hypothesis rules can reuse them.
struct Scene {
  const Agent* agent;
  const ModPair* mod_pair = nullptr;  // premise agent modifier's pair, if any
  const char* agent_mod = nullptr;
  const Action* action;
  const Object* object;
  const char* color = nullptr;  // object colour, if any
  const char* extra = nullptr;  // or another object modifier (never both)
  const char* purpose = nullptr;
  const Place* place = nullptr;
};

void push_np(Words& out, const char* det, const char* mod, const char* noun) {
  std::string_view first = mod ? mod : noun;
  if (std::string_view(det) == "a")
    push_article(out, first);
  else
    push_phrase(out, det);
  if (mod) push_phrase(out, mod);
  push_phrase(out, noun);
}

Scene make_scene(Rng& rng) {
  Scene s;
  s.agent = &rng.pick(kAgents);
  const bool animal = s.agent->kind == Animal;
  do {
    s.action = &rng.pick(kActions);
  } while (animal ? !s.action->animals : !s.action->humans);
  s.object = &s.action->objects[rng.below(5)];
  if (rng.chance(0.5)) {
    s.mod_pair = animal ? &rng.pick(kAnimalMods) : &rng.pick(kHumanMods);
    s.agent_mod = rng.chance(0.5) ? s.mod_pair->a : s.mod_pair->b;
  }
  const std::uint64_t obj_mod = rng.below(20);
  if (obj_mod < 7)
    s.color = rng.pick(kColors);
  else if (obj_mod < 10)
    s.extra = rng.pick(kObjectExtras);
  if (rng.chance(0.8)) s.place = &rng.pick(kPlaces);
  // Purposes also occur in premises, so a purpose in the hypothesis is not by
  // itself a neutral cue (keeps the hypothesis-only baseline lower).
  if (rng.chance(0.25)) s.purpose = animal ? rng.pick(kAnimalPurposes) : rng.pick(kHumanPurposes);
  return s;
}

void premise_words(const Scene& s, Words& out) {
  push_np(out, "a", s.agent_mod, s.agent->word);
  push_phrase(out, "is");
  push_phrase(out, s.action->ing);
  push_np(out, "a", s.color ? s.color : s.extra, s.object->word);
  if (s.place) push_phrase(out, s.place->words);
  if (s.purpose) push_phrase(out, s.purpose);
  push_phrase(out, ".");
}

// Builds hypotheses; every helper appends to `out`.
class Hyp {
 public:
  Hyp(Rng& rng, const Scene& s, Words& out) : rng_(rng), s_(s), out_(out) {}

  // "the woman" / "a young woman" / "the person": refers to the premise agent.
  void agent(bool allow_hyper, bool force_hyper = false) {
    const char* det = rng_.chance(0.75) ? "the" : "a";
    const char* noun = s_.agent->word;
    if (force_hyper || (allow_hyper && rng_.chance(0.25))) noun = hypernym();
    const char* mod = (s_.agent_mod && rng_.chance(0.5)) ? s_.agent_mod : nullptr;
    push_np(out_, det, mod, noun);
  }
  const char* hypernym() {
    if (s_.agent->hyper2 && rng_.chance(0.5)) return s_.agent->hyper2;
    return s_.agent->hyper1;
  }
  void object(bool keep_mod) {
    push_np(out_, "a", keep_mod ? (s_.color ? s_.color : s_.extra) : nullptr, s_.object->word);
  }
  // Repeats the premise's purpose half of the time.
  void maybe_purpose() {
    if (s_.purpose && rng_.chance(0.5)) push_phrase(out_, s_.purpose);
  }
  // A purpose the premise does not state (so it stays unverifiable).
  const char* new_purpose() {
    return s_.agent->kind == Animal ? pick_other(kAnimalPurposes, s_.purpose) : pick_other(kHumanPurposes, s_.purpose);
  }
  // A word from `pool` other than `avoid`.
  template <std::size_t N>
  const char* pick_other(const char* const (&pool)[N], const char* avoid) {
    const char* p;
    do p = rng_.pick(pool);
    while (p == avoid);
    return p;
  }
  // "<agent> is <action> a <mod> <object>", perhaps with the premise's purpose.
  void clause_with_object_mod(const char* mod) {
    subject_verb(false);
    push_np(out_, "a", mod, s_.object->word);
    maybe_purpose();
  }
  // "<agent> is [not] <action>" and, with the object, the whole clause.
  void subject_verb(bool negated) {
    agent(true);
    verb(negated);
  }
  void predicate(bool negated, bool keep_object_mod) {
    verb(negated);
    object(keep_object_mod);
  }
  void clause(bool negated, bool keep_object_mod) {
    agent(true);
    predicate(negated, keep_object_mod);
  }
  // "is [not] outside" / "is [not] indoors".
  void is_general_place(bool negated, bool outdoors) {
    push_phrase(out_, negated ? "is not" : "is");
    push_phrase(out_, general_place(outdoors));
  }
  void verb(bool negated) {
    push_phrase(out_, negated ? "is not" : "is");
    push_phrase(out_, s_.action->ing);
  }
  void exclusive_or_anti() {  // after "is" / "is not"
    if (s_.action->anti && rng_.chance(0.7)) {
      push_phrase(out_, s_.action->anti);
      object(false);
    } else {
      push_phrase(out_, rng_.pick(kExclusive));
    }
  }
  const char* general_place(bool outdoors) { return outdoors ? rng_.pick(kOutside) : rng_.pick(kInside); }
  const Place& place_of_kind(bool outdoors) {
    const Place* p;
    do p = &rng_.pick(kPlaces);
    while (p->outdoors != outdoors);
    return *p;
  }
  void maybe_place() {
    if (s_.place && rng_.chance(0.5)) push_phrase(out_, s_.place->words);
  }

  void entailment() {
    switch (rng_.below(5)) {
      case 0:  // generalise the agent
        agent(true, true);
        predicate(false, rng_.chance(0.5));
        maybe_place();
        maybe_purpose();
        return;
      case 1:  // generalise the object
        if (!s_.object->hyper) break;
        subject_verb(false);
        push_np(out_, "a", nullptr, s_.object->hyper);
        maybe_place();
        maybe_purpose();
        return;
      case 2:  // place -> outside / indoors (and its negated opposite)
        if (!s_.place) break;
        agent(true);
        if (rng_.chance(0.3)) {
          is_general_place(true, !s_.place->outdoors);
        } else {
          is_general_place(false, s_.place->outdoors);
        }
        return;
      case 3:  // negated exclusive: "is not sleeping", "is not closing a door"
        agent(true);
        push_phrase(out_, "is not");
        exclusive_or_anti();
        return;
      default:
        break;
    }
    // Drop modifiers and/or the place (always applicable).
    clause(false, false);
    maybe_purpose();
  }

  void contradiction() {
    switch (rng_.below(5)) {
      case 0:  // the exclusive agent
        if (!s_.agent->opposite) break;
        push_np(out_, rng_.chance(0.5) ? "a" : "the", nullptr, s_.agent->opposite);
        predicate(false, rng_.chance(0.5));
        maybe_place();
        maybe_purpose();
        return;
      case 1:  // negation of the action or of the place
        agent(true);
        if (s_.place && rng_.chance(0.3)) {
          is_general_place(true, s_.place->outdoors);
          return;
        }
        predicate(true, rng_.chance(0.5));
        maybe_purpose();
        return;
      case 2:  // the other kind of place
        if (!s_.place) break;
        agent(true);
        if (rng_.chance(0.5)) {
          is_general_place(false, !s_.place->outdoors);
        } else {
          predicate(false, false);
          push_phrase(out_, place_of_kind(!s_.place->outdoors).words);
        }
        return;
      case 3:  // antonym modifier of the agent or the object colour
        if (s_.agent_mod) {
          const char* anti = s_.agent_mod == s_.mod_pair->a ? s_.mod_pair->b : s_.mod_pair->a;
          push_np(out_, rng_.chance(0.5) ? "a" : "the", anti, rng_.chance(0.25) ? hypernym() : s_.agent->word);
          predicate(false, false);
          maybe_purpose();
          return;
        }
        if (s_.color) {
          clause_with_object_mod(pick_other(kColors, s_.color));
          return;
        }
        break;
      default:
        break;
    }
    // Antonym action or an exclusive state (always applicable).
    agent(true);
    push_phrase(out_, "is");
    exclusive_or_anti();
  }

  void neutral() {
    switch (rng_.below(6)) {
      case 0: {  // a modifier from a pair the premise does not use
        const bool animal = s_.agent->kind == Animal;
        const ModPair* p;
        do p = animal ? &rng_.pick(kAnimalMods) : &rng_.pick(kHumanMods);
        while (p == s_.mod_pair);
        push_np(out_, rng_.chance(0.5) ? "a" : "the", rng_.chance(0.5) ? p->a : p->b,
                rng_.chance(0.25) ? hypernym() : s_.agent->word);
        predicate(false, false);
        maybe_purpose();
        return;
      }
      case 1:  // a place the premise does not give
        if (s_.place) break;
        agent(true);
        if (rng_.chance(0.5)) {
          is_general_place(false, rng_.chance(0.5));
        } else {
          predicate(false, false);
          push_phrase(out_, rng_.pick(kPlaces).words);
        }
        return;
      case 2: {  // an object modifier the premise lacks; a colour only if it gives none
        const bool colour = !s_.color && rng_.chance(0.5);
        clause_with_object_mod(colour ? rng_.pick(kColors) : pick_other(kObjectExtras, s_.extra));
        return;
      }
      case 3: {  // a role
        if (s_.agent->kind == Animal || !s_.agent->opposite) break;
        agent(false);
        push_phrase(out_, "is");
        push_phrase(out_, s_.agent->kind == Adult ? rng_.pick(kAdultRoles) : rng_.pick(kChildRoles));
        return;
      }
      case 4:  // a negated purpose
        clause(true, false);
        push_phrase(out_, new_purpose());
        return;
      default:
        break;
    }
    // An unverifiable purpose (always applicable).
    clause(false, false);
    push_phrase(out_, new_purpose());
  }

 private:
  Rng& rng_;
  const Scene& s_;
  Words& out_;
};

}  // namespace

void nli_pair(Rng& rng, int label, Words& premise, Words& hypothesis) {
  premise.clear();
  hypothesis.clear();
  const Scene s = make_scene(rng);
  premise_words(s, premise);
  Hyp h(rng, s, hypothesis);
  if (label == 0)
    h.entailment();
  else if (label == 1)
    h.neutral();
  else
    h.contradiction();
  push_phrase(hypothesis, ".");
}

}  // namespace fathom::data::synth
