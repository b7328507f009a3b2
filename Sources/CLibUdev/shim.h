// libudev, from Debian's libudev-dev.
#include <libudev.h>
