// binding_continuous.c: "breakout_continuous", the same game with one continuous action in
// [-1, 1] (the env clips it) scaling the paddle speed. The ini's continuous key is read and
// ignored: this library is always continuous.
#define BREAKOUT_CONTINUOUS_BINDING 1
#include "binding.c"
