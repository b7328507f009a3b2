// libdevmapper, from Debian's libdevmapper-dev.
#include <libdevmapper.h>
