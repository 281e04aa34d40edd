/* checkpointer: the WAL copied into the database by a thread of the writing
 * process (see checkpointer.h). The writing thread only stores the WAL's size
 * under a mutex and signals when a checkpoint is due; the thread's own spool
 * handle never writes records, so the two never share a connection. */
#include "spool/checkpointer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spool/spool.h"

#define CKPT_PAGES 1000         /* a PASSIVE checkpoint each time the WAL grew by this */
#define RESTART_PAGES 8000      /* past this the WAL did not start over by itself */
#define PASSES 4                /* PASSIVE passes at most, each time */

struct spool_checkpointer {
    spool *s;                   /* the thread's own handle */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int wal_pages;              /* last reported */
    int due_at;                 /* WAL pages at which the next checkpoint is due */
    int due;                    /* a checkpoint is due */
    int stop;
};

static void *run(void *arg)
{
    spool_checkpointer *c = arg;
    /* so that top -H and ps -L tell the threads apart */
    (void)pthread_setname_np(pthread_self(), "cruddur-ckpt");
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->due && !c->stop)
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->stop)
            break;
        int pages = c->wal_pages;
        c->due = 0;
        pthread_mutex_unlock(&c->mu);
        /* The fsyncs happen here, outside the lock. A PASSIVE pass leaves
         * the frames committed while it ran: passes go on (each shorter than
         * the one before) until one finds the WAL unchanged and all copied,
         * when the next writer starts the WAL over. A WAL that has not
         * started over by RESTART_PAGES gets a RESTART, which holds writers
         * back while it copies and syncs: after the passes, a few frames. */
        int log = -1, done = 0, before = -1;
        for (int pass = 0; pass < PASSES && !(log == done && log == before); pass++) {
            before = log;
            if (spool_checkpoint_mode(c->s, SPOOL_CKPT_PASSIVE, &log, &done) != SPOOL_OK)
                break;
        }
        if (pages >= RESTART_PAGES && log >= RESTART_PAGES)
            spool_checkpoint_mode(c->s, SPOOL_CKPT_RESTART, NULL, NULL);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int spool_checkpointer_start(const char *path, spool_checkpointer **out, char *err,
                             size_t err_size)
{
    *out = NULL;
    spool_checkpointer *c = calloc(1, sizeof *c);
    if (c == NULL) {
        snprintf(err, err_size, "out of memory");
        return SPOOL_ERROR;
    }
    int status = spool_open(path, SPOOL_SMALL_CACHE, 0, &c->s, err, err_size);
    if (status != SPOOL_OK) {
        free(c);
        return status;
    }
    c->due_at = CKPT_PAGES;
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        spool_close(c->s);
        free(c);
        snprintf(err, err_size, "checkpointer: no mutex");
        return SPOOL_ERROR;
    }
    if (pthread_cond_init(&c->cv, NULL) != 0) {
        pthread_mutex_destroy(&c->mu);
        spool_close(c->s);
        free(c);
        snprintf(err, err_size, "checkpointer: no condition variable");
        return SPOOL_ERROR;
    }
    if (pthread_create(&c->thread, NULL, run, c) != 0) {
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        spool_close(c->s);
        free(c);
        snprintf(err, err_size, "checkpointer: cannot start a thread");
        return SPOOL_ERROR;
    }
    *out = c;
    return SPOOL_OK;
}

void spool_checkpointer_poke(spool_checkpointer *c, int wal_pages)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    c->wal_pages = wal_pages;
    if (wal_pages < CKPT_PAGES) {
        c->due_at = CKPT_PAGES;         /* the WAL started over */
    } else if (wal_pages >= c->due_at) {
        c->due_at = wal_pages + CKPT_PAGES;
        c->due = 1;
        pthread_cond_signal(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

void spool_checkpointer_stop(spool_checkpointer *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    spool_close(c->s);
    free(c);
}
