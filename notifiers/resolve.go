package notifiers

import (
	"context"
	"fmt"

	amconfig "github.com/prometheus/alertmanager/config"

	"github.com/klaxon-dev/klaxon/config"
)

// ResolveFunc returns the configuration of a receiver that cfg does not
// name but that exists elsewhere, such as a contact method of a user
// created through the API (incidents.ContactResolver), or nil if there is
// no such receiver. The outbox asks it when a message is enqueued and, on
// a replica that has not built the receiver yet, when it is sent, so that
// every replica sharing the database knows the same receivers without a
// reload.
type ResolveFunc func(ctx context.Context, cfg *config.Config, name string) (*amconfig.Receiver, error)

// integrations returns the integrations of receiver: the applied
// configuration's, or else those of a resolved receiver. fresh asks the
// resolver again even if the receiver was built before (on enqueue, so
// that a contact method removed since is no longer paged); the integrations
// built are kept for the sends, until the next reload.
func (o *Outbox) integrations(ctx context.Context, w *world, receiver string, fresh bool) ([]Integration, bool, error) {
	if in, ok := w.receivers[receiver]; ok {
		return in, true, nil
	}
	if o.resolve == nil {
		return nil, false, nil
	}
	w.mu.Lock()
	in, ok := w.resolved[receiver]
	w.mu.Unlock()
	if ok && !fresh {
		return in, true, nil
	}
	rc, err := o.resolve(ctx, w.cfg, receiver)
	if err != nil {
		return nil, false, fmt.Errorf("resolve receiver %q: %w", receiver, err)
	}
	if rc == nil {
		return nil, false, nil
	}
	if ok {
		return in, true, nil
	}
	in, err = o.build(rc, w.tmpl, o.logger.With("receiver", receiver))
	if err != nil {
		return nil, false, fmt.Errorf("receiver %q: %w", receiver, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if prev, ok := w.resolved[receiver]; ok {
		return prev, true, nil // built meanwhile by another worker
	}
	w.resolved[receiver] = in
	return in, true, nil
}

// integration finds the integration an outbox row was written for.
func (o *Outbox) integration(ctx context.Context, receiver, name string, idx int) (Integration, bool, error) {
	w := o.world.Load()
	if w == nil {
		return Integration{}, false, nil
	}
	list, _, err := o.integrations(ctx, w, receiver, false)
	if err != nil {
		return Integration{}, false, err
	}
	for _, in := range list {
		if in.Name == name && in.Index == idx {
			return in, true, nil
		}
	}
	return Integration{}, false, nil
}
