#pragma once
// Resident memory of this process, for run records and benchmarks (Linux
// /proc; elsewhere the functions report "unknown").
#include <cstdint>

namespace fathom {

// Peak resident set size (VmHWM) in bytes since the process started or since
// the last successful reset_peak_rss(); 0 where /proc is missing.
std::int64_t peak_rss_bytes();

// Current resident set size (VmRSS) in bytes; 0 where /proc is missing.
std::int64_t current_rss_bytes();

// Resets the peak to the current resident size (writes "5" to
// /proc/self/clear_refs, Linux >= 4.0), so that the next peak_rss_bytes()
// measures one stage of an in-process job. Returns false where that is not
// possible; the peak then stays the process-lifetime peak.
bool reset_peak_rss();

}  // namespace fathom
