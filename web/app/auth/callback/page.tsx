"use client";
// Where the issuer sends the browser back after sign-in: finish the code exchange, then go back.
import { useRouter } from "next/navigation";
import { useEffect, useRef, useState } from "react";
import { userManager } from "@/lib/auth";
import { useSession } from "@/lib/session";
import { ErrorMessage, Loading } from "@/components/States";
import PageTitle from "@/components/PageTitle";

export default function Callback() {
  const router = useRouter();
  const session = useSession();
  const [error, setError] = useState<string | null>(null);
  const started = useRef(false);

  useEffect(() => {
    if (started.current) return; // the code is single use: never exchange it twice
    started.current = true;
    userManager()
      .then((mgr) => mgr.signinRedirectCallback())
      .then(async (user) => {
        await session.refresh();
        const state = user.state as { returnTo?: string } | undefined;
        const back = state?.returnTo;
        router.replace(back && back.startsWith("/") && !back.startsWith("//") && !back.startsWith("/auth/") ? back : "/");
      })
      .catch((e: unknown) => setError(`Sign-in failed: ${e instanceof Error ? e.message : String(e)}`));
  }, [router, session]);

  return (
    <section>
      <PageTitle>Signing in</PageTitle>
      {error ? <ErrorMessage error={error} /> : <Loading what="Finishing sign-in" />}
    </section>
  );
}
