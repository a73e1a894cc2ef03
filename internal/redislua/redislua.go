// Package redislua holds the Lua scripts of the leases, conditional
// writes, tag indexes and write-behind's queued values that every
// Redis-backed l2 store runs (l2/redisstore over go-redis, l2/rueidisstore
// over rueidis), so that the stores share one key layout and one set of
// semantics: an instance on one store and an instance on the other can
// share a namespace. Each constant
// is a whole script, preludes included; the stores document the keys and
// arguments they pass.
package redislua

// LeaseMark starts a value that is a lease taken while its key held no
// value: LeaseMark, the holder's 16-byte token, and "w" once marked.
const LeaseMark = "\x00TCL"

// Queued starts every script that reads a queued key (the store's
// QueuedKey). queued(k) returns its sequence number (20 digits) and queued value
// (false when only the number is remembered), or false, false when k
// holds nothing. A k of another type holds nothing the store wrote: it is
// deleted, and holds nothing. above(a, b) compares two such numbers digit
// by digit (Lua compares strings with strcoll, which depends on the
// server's locale).
const Queued = `
local function queued(k)
	local q = redis.pcall("GET", k)
	if type(q) == "table" then
		redis.call("DEL", k)
		return false, false
	end
	if not q then return false, false end
	local seq = string.sub(q, 2, 21)
	if string.sub(q, 1, 1) == "q" then return seq, string.sub(q, 22) end
	return seq, false
end
local function above(a, b)
	for i = 1, 20 do
		local x, y = string.byte(a, i), string.byte(b, i)
		if x ~= y then return x > y end
	end
	return false
end
`

// placeholder starts every script that reads a value key that may hold
// a lease in place of a value. placeholder(v) returns the holder's token
// when v is one, else nil. holds(v, mode, n, digest) reports whether v (a
// value, or false for none) is what the caller expects: mode "0" for
// nothing, else "1" with the length n and the hex SHA-1 digest of the value.
const placeholder = `
local function placeholder(v)
	if v and (#v == 20 or #v == 21) and string.sub(v, 1, 4) == "\000TCL" then
		return string.sub(v, 5, 20)
	end
	return nil
end
local function holds(v, mode, n, digest)
	if mode == "0" then return not v end
	return v and #v == tonumber(n) and redis.sha1hex(v) == digest
end
`

// Lease answers {1} granted, {2} held by another token (and marks
// the lease waited, keeping its TTL), {3, v} changed (the key holds v), {4}
// changed (the key holds nothing). A grant to the holder keeps the mark.
// When KEYS[3] queues a value q (write-behind), it answers {3, q}, after
// setting KEYS[1] to q without expiry when it holds anything else.
// ARGV: token, ttl in ms, mode, length, digest.
const Lease = Queued + placeholder + `
local v = redis.call("GET", KEYS[1])
local _, q = queued(KEYS[3])
if q then
	if v ~= q then redis.call("SET", KEYS[1], q) end
	return {3, q}
end
local p = placeholder(v)
local lease = v
if p then v = false end
if not holds(v, ARGV[3], ARGV[4], ARGV[5]) then
	if v then return {3, v} end
	return {4}
end
if not v then
	if p and p ~= ARGV[1] then
		if #lease == 20 then
			redis.call("SET", KEYS[1], lease .. "w", "KEEPTTL")
			local ttl = redis.call("PTTL", KEYS[1])
			if ttl > 0 then redis.call("SET", KEYS[2], p .. "w", "PX", ttl) end
		end
		return {2}
	end
	local h = redis.call("GET", KEYS[2])
	if (p and #lease == 21) or (h and #h == 17 and string.sub(h, 1, 16) == ARGV[1]) then
		redis.call("SET", KEYS[1], "\000TCL" .. ARGV[1] .. "w", "PX", ARGV[2])
		redis.call("SET", KEYS[2], ARGV[1] .. "w", "PX", ARGV[2])
	else
		redis.call("SET", KEYS[1], "\000TCL" .. ARGV[1], "PX", ARGV[2])
	end
	return {1}
end
local h = redis.call("GET", KEYS[2])
if h and string.sub(h, 1, 16) ~= ARGV[1] then
	if #h == 16 then redis.call("SET", KEYS[2], h .. "w", "KEEPTTL") end
	return {2}
end
redis.call("SET", KEYS[2], h or ARGV[1], "PX", ARGV[2])
return {1}
`

// SetLeased answers {stored, waited}: it stores when nobody else
// holds the lease and the key holds the old value, and drops the lease
// when ARGV[1] holds it, reporting its mark. A lease kept in the key was
// taken by GetLease, which does not see queued values: when KEYS[3]
// queues one, it does not store, and puts the queued value back as the
// key's value, as leaseScript does. ARGV: token, value, ttl in ms, mode,
// length, digest.
const SetLeased = Queued + placeholder + `
local v = redis.call("GET", KEYS[1])
local p = placeholder(v)
local waited = 0
if p then
	if p ~= ARGV[1] then return {0, 0} end
	if #v == 21 then
		waited = 1
		redis.call("DEL", KEYS[2])
	end
	local _, q = queued(KEYS[3])
	if q then
		redis.call("SET", KEYS[1], q)
		return {0, waited}
	end
	v = false
else
	local h = redis.call("GET", KEYS[2])
	if h then
		if string.sub(h, 1, 16) ~= ARGV[1] then return {0, 0} end
		if #h > 16 then waited = 1 end
		redis.call("DEL", KEYS[2])
	end
end
if not holds(v, ARGV[4], ARGV[5], ARGV[6]) then
	if p then redis.call("DEL", KEYS[1]) end
	return {0, waited}
end
redis.call("SET", KEYS[1], ARGV[2], "PX", ARGV[3])
return {1, waited}
`

// Release drops ARGV[1]'s lease, in KEYS[1] or KEYS[2], and answers 1
// when it was marked waited, 0 otherwise.
const Release = placeholder + `
local v = redis.call("GET", KEYS[1])
local waited = 0
if placeholder(v) == ARGV[1] then
	redis.call("DEL", KEYS[1])
	if #v == 21 then waited = 1 end
end
local h = redis.call("GET", KEYS[2])
if h and string.sub(h, 1, 16) == ARGV[1] then
	redis.call("DEL", KEYS[2])
	if #h > 16 then waited = 1 end
end
return waited
`

// SetIf sets KEYS[1] to ARGV[1] for ARGV[2] milliseconds if it holds
// the value of length ARGV[3] and hex SHA-1 ARGV[4] (see expect), and
// returns 1 when it did.
const SetIf = placeholder + `
if holds(redis.call("GET", KEYS[1]), "1", ARGV[3], ARGV[4]) then
	redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
	return 1
end
return 0
`

// Tag adds ARGV[2:] to the set KEYS[1], 1000 members per SADD (Lua's
// unpack fails on a few thousand values), then makes the set live at least
// ARGV[1] milliseconds. PTTL is -1 for a set without a TTL, one that SADD
// has just created: PEXPIRE ... GT would take that for an infinite lifetime
// and do nothing, but -1 < ttl here.
const Tag = `
local n = #ARGV
for i = 2, n, 1000 do
	redis.call("SADD", KEYS[1], unpack(ARGV, i, math.min(i + 999, n)))
end
local ttl = tonumber(ARGV[1])
if redis.call("PTTL", KEYS[1]) < ttl then
	redis.call("PEXPIRE", KEYS[1], ttl)
end
return 0
`

// Stage queues ARGV[1] with the sequence number ARGV[2] (20 digits; all
// zeros: the key's next) in the queued key KEYS[3] unless KEYS[3] holds
// or remembers a number that is not smaller; then sets the value KEYS[1]
// to ARGV[1] without expiry and deletes the lease KEYS[2]. It answers the
// number stored, or zeros when refused (also when a number of zeros would
// pass the largest uint64). ARGV: value, seq.
const Stage = Queued + `
local cur = queued(KEYS[3])
local seq = ARGV[2]
if seq == "00000000000000000000" then
	if not cur then
		seq = "00000000000000000001"
	elseif cur == "18446744073709551615" then
		return "00000000000000000000"
	else
		local i = 20
		while string.byte(cur, i) == 57 do i = i - 1 end
		seq = string.sub(cur, 1, i - 1) .. string.char(string.byte(cur, i) + 1) .. string.rep("0", 20 - i)
	end
elseif cur and not above(seq, cur) then
	return "00000000000000000000"
end
redis.call("SET", KEYS[3], "q" .. seq .. ARGV[1])
redis.call("SET", KEYS[1], ARGV[1])
redis.call("DEL", KEYS[2])
return seq
`

// Claim answers {0, seq} when the queued key KEYS[3] queues no value
// (seq: the remembered number, or zeros), {2, seq, value} when another
// token's claim KEYS[4] lives, and otherwise claims the key for ARGV[1]
// for ARGV[2] milliseconds and answers {1, seq, value}. A claim of
// another type is replaced. KEYS[1] and KEYS[2] (the value's and the
// lease's keys) are not read. ARGV: token, ttl in ms.
const Claim = Queued + `
local seq, v = queued(KEYS[3])
if not v then return {0, seq or "00000000000000000000"} end
local c = redis.pcall("GET", KEYS[4])
if type(c) == "string" and c ~= ARGV[1] then return {2, seq, v} end
redis.call("SET", KEYS[4], ARGV[1], "PX", ARGV[2])
return {1, seq, v}
`

// Unstage ends ARGV[1]'s claim KEYS[4] (or a claim of another type) and,
// when the queued key KEYS[3] queues a value with the number ARGV[2],
// leaves only the number in KEYS[3] for ARGV[4] milliseconds and gives
// the value KEYS[1] ARGV[3] milliseconds when it holds the queued bytes
// ("0": deletes it). It reads the value first, so that a value of another
// type fails the call (WRONGTYPE) before anything changed. It answers 1
// when it removed the queued value, else 0. KEYS[2] (the lease's key) is
// not read. ARGV: token, seq, ttl in ms, memory in ms.
const Unstage = Queued + `
local cur = redis.call("GET", KEYS[1])
local c = redis.pcall("GET", KEYS[4])
if type(c) == "table" or c == ARGV[1] then redis.call("DEL", KEYS[4]) end
local seq, v = queued(KEYS[3])
if not v or seq ~= ARGV[2] then return 0 end
redis.call("SET", KEYS[3], "r" .. seq, "PX", ARGV[4])
if cur == v then
	if ARGV[3] == "0" then
		redis.call("DEL", KEYS[1])
	else
		redis.call("PEXPIRE", KEYS[1], ARGV[3])
	end
end
return 1
`
