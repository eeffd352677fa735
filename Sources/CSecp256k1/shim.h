// libsecp256k1 (apt: libsecp256k1-dev): the labeler's secp256k1 keys (docs/labels.md).
#include <secp256k1.h>
