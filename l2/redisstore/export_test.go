package redisstore

// KeySlot exports keySlot to the external tests, which compare it with a
// real cluster's CLUSTER KEYSLOT.
var KeySlot = keySlot
