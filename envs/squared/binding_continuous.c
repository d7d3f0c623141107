// binding_continuous.c: "squared_continuous", squared with two continuous action dims: a
// value above 0.5 moves down/right, below -0.5 up/left (see c_step in squared.h).
#define SQUARED_CONTINUOUS 1
#include "binding.c"
