package remote

import (
	"math"

	"golang.org/x/time/rate"
)

// SendLimits are the paces the client keeps for messages, apart from the
// upload and download limits: a drop of a thousand files neither exceeds
// the service's send limits nor waits behind, or holds up, the uploads.
// Zero fields take the defaults, kept a tenth under the service's limits
// (users 100 calls/s and 6,000 messages a minute, each recipient counting;
// groups and rooms 20 calls/s each); a negative field turns that limit off
// (tests).
type SendLimits struct {
	UserCalls    float64 // calls/s to /messages/users; default 90
	UserMessages int     // recipients a minute of /messages/users; default 6000 (kept exactly: see newMessageLimiter)
	GroupCalls   float64 // calls/s to /messages/chatgroups; default 18
	RoomCalls    float64 // calls/s to /messages/chatrooms; default 18
}

// Defaults of SendLimits.
const (
	DefaultUserCalls    = 90
	DefaultUserMessages = 6000
	DefaultGroupCalls   = 18
	DefaultRoomCalls    = 18
)

// sendLimits are the limiters of the three send calls; nil ones are off.
type sendLimits struct {
	users, groups, rooms kindLimit
}

// kindLimit paces one send call: calls, and for users the recipients too.
type kindLimit struct {
	calls *rate.Limiter
	msgs  *rate.Limiter
}

func newSendLimits(l SendLimits) sendLimits {
	calls := func(v, def float64) *rate.Limiter {
		switch {
		case v < 0:
			return nil
		case v == 0:
			v = def
		}
		return newCallLimiter(v)
	}
	return sendLimits{
		users:  kindLimit{calls: calls(l.UserCalls, DefaultUserCalls), msgs: newMessageLimiter(l.UserMessages)},
		groups: kindLimit{calls: calls(l.GroupCalls, DefaultGroupCalls)},
		rooms:  kindLimit{calls: calls(l.RoomCalls, DefaultRoomCalls)},
	}
}

// newCallLimiter allows perSecond calls a second with a burst of a tenth
// of a second's worth (1 to 5): the service counts calls in any second, so
// a full bucket plus a second's refill must stay under its limit (the
// upload and download limiters' burst of a second's worth would let 180
// calls through in one second at 90/s).
func newCallLimiter(perSecond float64) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(perSecond), min(max(int(perSecond/10), 1), 5))
}

// newMessageLimiter keeps perMinute recipients in any 60 s: a bucket of
// burst b (enough for one call to MaxUsersPerMessage users, and at most
// half the minute's allowance) refilled at (perMinute-b)/60 a second, so
// that a full bucket plus a minute's refill is exactly perMinute.
func newMessageLimiter(perMinute int) *rate.Limiter {
	switch {
	case perMinute < 0:
		return nil
	case perMinute == 0:
		perMinute = DefaultUserMessages
	}
	b := max(min(MaxUsersPerMessage, perMinute/2), 1)
	r := float64(perMinute-b) / 60
	if r <= 0 {
		r = math.SmallestNonzeroFloat64
	}
	return rate.NewLimiter(rate.Limit(r), b)
}

func (s *sendLimits) forKind(k ChatKind) kindLimit {
	switch k {
	case ToUsers:
		return s.users
	case ToGroups:
		return s.groups
	default:
		return s.rooms
	}
}
