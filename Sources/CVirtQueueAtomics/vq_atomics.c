#include "vq_atomics.h"
