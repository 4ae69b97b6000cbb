#include "fathom/cli/app.h"

int main(int argc, char** argv) { return fathom::cli::main(argc, argv); }
