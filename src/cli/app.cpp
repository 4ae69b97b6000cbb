#include "fathom/cli/app.h"
namespace fathom::cli {
int main(int, char**) { return 0; }
}
