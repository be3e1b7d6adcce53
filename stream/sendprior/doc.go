// Package sendprior builds the population prior of the send-time model:
// on a schedule it scans the contacts of the partitions this instance
// owns, adds each contact's decayed hour-of-week histogram of opens and
// clicks and its opens and deliveries to a sendtime.Prior (sums, so the
// partitions merge by adding), fits it and swaps the *sendtime.Fit that
// the API's send-time answers and the triggers' send_at shrink towards.
//
//	partition contacts ──scan──► Prior.Add per contact ─► Merge ─► Fit() ─► atomic swap
//
// Until the first refresh the pointer holds sendtime.Uniform(), so every
// answer rests on something.
//
// Metrics: kairos_sendprior_refreshes_total{result} (ok, failed),
// kairos_sendprior_contacts (contacts with engagement in the last fit),
// kairos_sendprior_refresh_seconds.
package sendprior
